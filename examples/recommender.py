"""The recommender from Python: I-AutoRec (Sedhain et al. 2015) on MovieLens 100K, split u1.

Trains the item-based autoencoder on the u1.base ratings, reports RMSE on the held-out u1.test ratings
(predictions are made from training ratings only), and prints a user's top 10 unrated movies. The
MovieLens files are not bundled (their licence forbids it): point $JAXAE_DATA_DIR (or --data-dir) at
a folder holding ml-100k/.

    JAXAE_DATA_DIR=../shared/data python examples/recommender.py [--user 42] [--epochs 150]
"""
import argparse

import numpy as np

import jaxae
from jaxae import recsys
from jaxae.tasks import autorec


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", type=int, default=42, help="1-based user id")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    ml = jaxae.data.movielens.load("ml-100k", "u1", args.data_dir, download_ok=False)
    data = jaxae.data.movielens.as_dataset(ml)
    config = autorec.AutoRecConfig()
    train = jaxae.TrainConfig(epochs=args.epochs, batch_size=1682, eval_batch_size=1682, progress=False)
    result = jaxae.fit(autorec.task(config), data, train)  # the task transposes to one example per movie
    last = result.history[-1]
    ratings, held_out = data.train_images, data.test_images["targets"]  # user-major (943, 1682)
    scores = autorec.offers(config).recommender.predict(result.state.params, ratings)
    ranking = recsys.top_n(scores, ratings, held_out, 10)
    print(f"I-AutoRec, {args.epochs} full-batch epochs on {ml.name}: test RMSE {last['test_rmse']:.4f}, "
          f"MAE {last['test_mae']:.4f}; precision@10 {ranking.precision:.3f}, NDCG@10 {ranking.ndcg:.3f}")
    print(f"top 10 for user {args.user} (who rated {int((ratings[args.user - 1] > 0).sum())} movies in training):")
    for rank, (item, score) in enumerate(recsys.recommend(scores, ratings, args.user - 1, 10), 1):
        print(f"{rank:3d}. {score:.2f}  {ml.titles[item]}")
    assert np.isfinite(scores).all()


if __name__ == "__main__":
    main()
