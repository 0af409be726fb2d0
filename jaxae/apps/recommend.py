"""`jaxae recommend --run DIR --user U`: a recommender run's top movies for a user, or one prediction."""
from __future__ import annotations

import numpy as np

from jaxae import recsys
from jaxae.data import movielens
from jaxae.errors import ConfigError, JaxaeError
from jaxae.tasks import Recommender, Run, load_run


def recommender(run: Run) -> Recommender:
    """What the run offers as a recommender; ConfigError when it is not one."""
    if run.offers.recommender is None:
        raise ConfigError(f"{run.path} is a {run.model} run, not a recommender (cf-rbm, rbm-binary, autorec)")
    return run.offers.recommender


def rating_matrices(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """The run's user-major (train, test) rating matrices (n_users, n_items) uint8, 0 = unrated."""
    train, test = run.data.train_images, run.data.test_images["targets"]
    if recommender(run).item_major:  # item-major data (I-AutoRec, item-based CF-RBM): turn it back
        train, test = train.T, test.T
    return np.asarray(train), np.asarray(test)


def _scores_for(run: Run, user: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(user-major training matrix, scores of every user, titles) for a 1-based user id, checked."""
    train, _ = rating_matrices(run)
    if not 1 <= user <= train.shape[0]:
        raise ConfigError(f"unknown user {user}: {run.data.name} has users 1..{train.shape[0]}")
    titles = movielens.load_named(run.data.name, data_dir or run.data_dir, download_ok=False).titles
    scores = recommender(run).predict(run.state.params, train)  # item-based models need every user's column
    return train, scores, titles


def recommend_for(run: Run, user: int, top: int = 10, data_dir: str | None = None) -> list[tuple[str, float]]:
    """(title, score) of the `top` unrated movies with the highest scores for `user` (1-based id)."""
    train, scores, titles = _scores_for(run, user, data_dir)
    return [(titles[i], s) for i, s in recsys.recommend(scores, train, user - 1, top)]


def predict_one(run: Run, user: int, movie: int, data_dir: str | None = None) -> tuple[str, float, int]:
    """(title, score, training rating or 0) for a 1-based user and movie id."""
    n_items = rating_matrices(run)[0].shape[1]
    if not 1 <= movie <= n_items:
        raise ConfigError(f"unknown movie {movie}: {run.data.name} has movies 1..{n_items}")
    train, scores, titles = _scores_for(run, user, data_dir)
    return titles[movie - 1], float(scores[user - 1, movie - 1]), int(train[user - 1, movie - 1])


def recommend_command(args) -> int:
    if args.top < 1:
        raise JaxaeError(f"--top must be at least 1, got {args.top}")
    run = load_run(args.run, args.data_dir, args.index)
    unit = recommender(run).unit
    if args.movie is not None:
        title, score, known = predict_one(run, args.user, args.movie, args.data_dir)
        note = f" (the user rated it {known} in training)" if known else ""
        print(f"user {args.user}, movie {args.movie} {title}: {unit} {score:.2f}{note}")
        return 0
    print(f"user {args.user}, {run.model} run {args.run} (epoch {run.epoch}); {unit}:")
    for rank, (title, score) in enumerate(recommend_for(run, args.user, args.top, args.data_dir), 1):
        print(f"{rank:3d}. {score:5.2f}  {title}")
    return 0
