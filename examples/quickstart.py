"""Search the bundled demo space on digits, then print the best trial and the top three."""

import automl

if __name__ == "__main__":
    result = automl.search("demo", "digits", n_trials=6, epochs=4, storage="sqlite:///example.db",
                           study_name="example", seed=0)
    print(f"best val_accuracy {result.best_value:.4f} with {result.best_params}")
    for row in result.leaderboard[:3]:
        print(row.number, row.state, f"{row.value:.4f}")
