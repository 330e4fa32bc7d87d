"""A search space written as a Python function, with a conditional hyperparameter."""

import keras

import automl


def build_model(hp):
    units = hp.int("units", 16, 128, step=16)
    lr = hp.float("learning_rate", 1e-4, 1e-2, log=True)
    opt = hp.choice("optimizer", ["adam", "sgd"])
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    if opt == "sgd":
        with hp.conditional("optimizer", ["sgd"]):
            momentum = hp.float("momentum", 0.0, 0.95)
        optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=momentum)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=lr)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


if __name__ == "__main__":
    result = automl.search(build_model, "digits", n_trials=5, epochs=3, storage="sqlite:///example.db",
                           study_name="function-example", seed=0)
    print(f"best val_accuracy {result.best_value:.4f} with {result.best_params}")
