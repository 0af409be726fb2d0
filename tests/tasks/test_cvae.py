"""`jaxae train cvae`: labels reach the loss; eval gives the IS-NLL of p(x | y); sample draws by class."""
import json
import os

from PIL import Image

from jaxae.apps.cli import main


def test_cvae_train_eval_sample(tmp_path, capsys):
    run = str(tmp_path / "cvae")
    assert main(["train", "cvae", "--epochs", "1", "--hidden", "64", "--latent", "4", "--learning-rate", "1e-3",
                 "--workdir", run, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", run, "--k", "20", "--chunk", "10", "--limit", "100", "--no-progress"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.splitlines()[0])
    assert "log p(x | y)" in result["test_binarization"] and result["is_nll"] < result["test_neg_elbo"] + 1
    assert main(["sample", "--run", run, "--n", "30"]) == 0
    assert sorted(os.listdir(tmp_path / "cvae" / "samples")) == ["by_class.png", "interpolation.png", "latent_map.png"]
    width, height = Image.open(tmp_path / "cvae" / "samples" / "by_class.png").size
    assert height > width  # 10 rows (classes) of 3
    assert main(["train", "cvae", "--classes", "5", "--epochs", "1", "--workdir", str(tmp_path / "bad")]) == 2
    assert "labels 0..9 but the CVAE has 5 classes" in capsys.readouterr().err
