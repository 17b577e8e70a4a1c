"""Tests of VaB-AL: each equation on a hand-computed case, the VAE on a separable mixture,
the method's steps on synthetic features, and the whole chain through the workflow."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from vabal import io, layout
from vabal.errors import ConfigError
from vabal.methods import REGISTRY
from vabal.methods.base import RoundContext, top_k
from vabal.methods.vabal import SPEC, vae
from vabal.methods.vabal.method import VaBAL

CPU = torch.device("cpu")
LOG_2PI = math.log(2 * math.pi)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as a workflow job has (faster on a shared CPU, and the same
    floating-point reductions as the job)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mixture(n: int, k: int = 3, dims=(8, 16, 32, 64), seed: int = 0):
    """``k`` Gaussian clusters seen through four fake "stages" of pooled features."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    taps = []
    for d in dims:
        centers = torch.randn(k, d, generator=g) * 6 / d**0.5
        taps.append((centers[y] + torch.randn(n, d, generator=g)).relu())
    return taps, y


# ----------------------------------------------------------------------------- Eq. 7
def test_predict_class_is_argmin_of_block_weights():
    # 3 classes x 2 dimensions per class
    z = torch.tensor([[1.0, 2.0, 0.0, 0.5, 3.0, 0.0], [-3.0, -3.0, 0.0, 0.0, 1.0, 1.0]])
    torch.testing.assert_close(
        vae.absence_weights(z, 3, "z2"), torch.tensor([[5.0, 0.25, 9.0], [18.0, 0.0, 2.0]])
    )
    torch.testing.assert_close(
        vae.absence_weights(z, 3, "abs"), torch.tensor([[3.0, 0.5, 3.0], [6.0, 0.0, 2.0]])
    )
    s = torch.sigmoid
    expected = torch.tensor(
        [
            [s(torch.tensor(1.0)) + s(torch.tensor(2.0)), 0.5 + s(torch.tensor(0.5)), 0.0],
            [2 * s(torch.tensor(-3.0)), 1.0, 2 * s(torch.tensor(1.0))],
        ]
    )
    expected[0, 2] = s(torch.tensor(3.0)) + 0.5
    torch.testing.assert_close(vae.absence_weights(z, 3, "sigmoid"), expected)
    assert vae.predict_class(z, 3, "z2").tolist() == [1, 1]
    assert vae.predict_class(z, 3, "abs").tolist() == [1, 1]
    assert vae.predict_class(z, 3, "sigmoid").tolist() == [1, 0]
    # draws x samples x latent works the same
    assert vae.predict_class(z.expand(4, 2, 6), 3).shape == (4, 2)


def test_mask_block_zeroes_exactly_block_n():
    z = torch.randn(5, 4, 3 * 10, generator=torch.Generator().manual_seed(0)) + 5.0
    cls = torch.tensor([0, 2, 1, 2])
    masked = vae.mask_block(z, cls, 3)
    for b, c in enumerate(cls.tolist()):
        block = slice(10 * c, 10 * c + 10)
        assert (masked[:, b, block] == 0).all()
        rest = torch.ones(30, dtype=torch.bool)
        rest[block] = False
        assert torch.equal(masked[:, b, rest], z[:, b, rest])
    one = vae.mask_block(z, 1, 3)
    assert (one[..., 10:20] == 0).all() and torch.equal(one[..., :10], z[..., :10])
    assert torch.equal(one[..., 20:], z[..., 20:])


# ----------------------------------------------------------------------------- Eq. 8
@pytest.mark.parametrize("w_type", ["z2", "abs", "sigmoid"])
def test_class_loss_is_cross_entropy_of_softmax_minus_w(w_type):
    g = torch.Generator().manual_seed(1)
    z, target = torch.randn(7, 4 * 3, generator=g), torch.tensor([0, 1, 2, 3, 0, 1, 2])
    w = vae.absence_weights(z, 4, w_type)
    by_hand = -torch.log(torch.softmax(-w, 1)[torch.arange(7), target]).mean()
    torch.testing.assert_close(vae.class_loss(z, target, 4, w_type), by_hand)
    torch.testing.assert_close(vae.class_loss(z, target, 4, w_type), F.cross_entropy(-w, target))


# ----------------------------------------------------------------------------- Eq. 9-10
def test_elbo_by_hand():
    x = torch.tensor([[1.0, 2.0]])
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    kl = 0.5 * (1 + 1 - 1 - 0) + 0.5 * (0 + 4 - 1 - math.log(4.0))
    log_px = -0.5 * (1.0 + 0.0) - LOG_2PI  # two features, unit variance
    got = vae.elbo(x, torch.tensor([[0.0, 2.0]]), mu, logvar)
    torch.testing.assert_close(got, torch.tensor([log_px - kl]))
    # the KL of a masked latent dimension is not counted
    keep = torch.tensor([[1.0, 0.0]])
    torch.testing.assert_close(
        vae.elbo(x, torch.tensor([[0.0, 2.0]]), mu, logvar, keep), torch.tensor([log_px - 0.5])
    )
    # several draws: Monte Carlo mean of log p(x|z)
    draws = torch.tensor([[[0.0, 2.0]], [[1.0, 2.0]]])
    torch.testing.assert_close(
        vae.elbo(x, draws, mu, logvar), torch.tensor([(log_px - LOG_2PI) / 2 - kl])
    )
    # Eq. 10: -ELBO per feature plus lambda times the class loss
    loss = vae.vae_loss(torch.tensor([4.0, 6.0]), torch.tensor(2.0), 0.5, 2)
    torch.testing.assert_close(loss, torch.tensor(2.5 + 1.0))


# ----------------------------------------------------------------------------- Eq. 11-12
def test_difficulty_and_prior_against_hand_counts():
    labels = torch.tensor([0, 0, 1, 2])
    draws = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])  # 2 draws x 4 samples, class 3 never
    counts = vae.confusion_counts(labels, draws, 4)
    expected = torch.tensor(
        [[1.5, 0.5, 0, 0], [0, 1.0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 0]], dtype=torch.float64
    )
    torch.testing.assert_close(counts, expected)
    # without smoothing: right / predicted and predicted / all (class 3: 0/0 -> 1/2, 0)
    tiny = 1e-12
    torch.testing.assert_close(
        vae.label_difficulty(counts, tiny), torch.tensor([1.0, 0.5, 1.0, 0.5], dtype=torch.float64)
    )
    torch.testing.assert_close(
        vae.class_prior(counts, tiny),
        torch.tensor([1.5 / 4, 2 / 4, 0.5 / 4, 0.0], dtype=torch.float64),
    )
    # additive smoothing of one pseudo-sample
    torch.testing.assert_close(
        vae.label_difficulty(counts, 1.0),
        torch.tensor([2.5 / 3.5, 2 / 4, 1.5 / 2.5, 1 / 2], dtype=torch.float64),
    )
    prior = vae.class_prior(counts, 1.0)
    torch.testing.assert_close(
        prior, torch.tensor([2.5 / 8, 3 / 8, 1.5 / 8, 1 / 8], dtype=torch.float64)
    )
    assert prior.sum().item() == pytest.approx(1.0) and (prior > 0).all()
    # one prediction per sample (no draw axis) counts whole samples
    torch.testing.assert_close(
        vae.confusion_counts(labels, draws[0], 4).sum(), torch.tensor(4.0, dtype=torch.float64)
    )


# ----------------------------------------------------------------------------- Eq. 6
def test_log_space_score_equals_direct_product_and_survives_underflow():
    g = torch.Generator().manual_seed(2)
    log_lik = -5 * torch.rand(50, 4, generator=g, dtype=torch.float64)
    d = torch.rand(4, generator=g, dtype=torch.float64) + 0.1
    p = torch.rand(4, generator=g, dtype=torch.float64) + 0.1
    p = p / p.sum()
    direct = (d * log_lik.exp() * p).sum(1)  # the paper's sum; p(y != y^|x) ~ -direct
    score = vae.misclassification_score(log_lik, d.log(), p.log())
    torch.testing.assert_close(score, -direct.log())
    assert torch.equal(torch.argsort(score), torch.argsort(-direct))  # monotone in -sum
    # ELBOs of thousands of nats: the direct product underflows to 0, the score does not
    deep = log_lik - 1500.0
    assert ((d * deep.exp() * p).sum(1) == 0).all()
    deep_score = vae.misclassification_score(deep, d.log(), p.log())
    assert torch.isfinite(deep_score).all()
    torch.testing.assert_close(deep_score, score + 1500.0)  # same ranking
    # the predicted reading keeps one term: -(log d + log p(x|y^) + log prior) at y^
    pred = torch.tensor([0, 3, 1])
    one = vae.misclassification_score(deep[:3, 0], d.log(), p.log(), pred)
    torch.testing.assert_close(one, -(d[pred].log() + deep[:3, 0] + p[pred].log()))


def test_sign_selects_the_least_likely_samples_first():
    log_lik = torch.tensor([-100.0, -300.0, -200.0], dtype=torch.float64)
    zeros = torch.zeros(2, dtype=torch.float64)
    score = vae.misclassification_score(log_lik, zeros, zeros, torch.tensor([0, 0, 1]))
    chosen = top_k(np.arange(3), score.numpy(), 2, np.random.default_rng(0))
    assert chosen.tolist() == [1, 2]


def test_prior_alone_ranks_the_rare_predicted_class_first():
    prior = torch.tensor([0.8, 0.15, 0.05], dtype=torch.float64)
    difficulty = torch.full((3,), 0.7, dtype=torch.float64)
    pred = torch.tensor([0, 1, 0, 2, 0, 0, 1])
    log_lik = torch.full((7,), -250.0, dtype=torch.float64)
    score = vae.misclassification_score(log_lik, difficulty.log(), prior.log(), pred)
    chosen = top_k(np.arange(7), score.numpy(), 3, np.random.default_rng(0))
    assert chosen[0] == 3 and set(chosen[1:].tolist()) == {1, 6}
    # without the prior (Table 1's ablation) every sample ties
    flat = vae.misclassification_score(log_lik, difficulty.log(), torch.zeros(3), pred)
    assert torch.unique(flat).numel() == 1


# ----------------------------------------------------------------------------- the VAE
def test_pool_likelihoods_predicted_is_the_all_term_of_the_vae_class(monkeypatch):
    taps, _ = mixture(40)
    model = vae.new_vae([t.shape[1] for t in taps], 3, 4, seed=0)
    model.fit_norms(taps)
    model.eval()
    x = model.target(taps)
    monkeypatch.setattr(vae, "CHUNK_ELEMENTS", 6 * 120 * 7)  # several chunks of 7 samples
    one, pred, votes = vae.pool_likelihoods(model, x, 6, vae.seeded_generator(CPU, 5))
    every, pred2, _ = vae.pool_likelihoods(model, x, 6, vae.seeded_generator(CPU, 5), "z2", "all")
    assert one.shape == (40,) and every.shape == (40, 3) and votes.shape == (40, 3)
    assert torch.equal(pred, pred2)
    torch.testing.assert_close(one, every[torch.arange(40), pred])
    torch.testing.assert_close(votes.sum(1), torch.ones(40, dtype=torch.float64))
    assert torch.isfinite(every).all() and (every < 0).all()


def test_vae_learns_a_separable_mixture_without_collapse():
    taps, y = mixture(600)
    params = {**SPEC.params, "lr": 1e-3}  # lambda = 0.005 and 20 epochs as in the paper
    model, history, _ = vae.train_vae(taps, y, 3, params, CPU, init_seed=1, batch_seed=2)
    assert len(history) == 20 and history[-1]["neg_elbo"] < history[0]["neg_elbo"]
    x = model.target(taps)
    draws = vae.predict_draws(model, x, 20, vae.seeded_generator(CPU, 3))
    agreement = (draws == y).double().mean().item()
    assert agreement > 0.55, agreement  # chance is 1/3
    diag = vae.collapse_diagnostics(model, taps)
    assert diag["recon_r2"] > 0.1 and diag["active_units"] >= 2
    assert diag["embedding_variance"] > 1e-3 and diag["latent_mean_variance"] > 1e-3


def test_training_is_deterministic_on_cpu():
    taps, y = mixture(90)
    params = {**SPEC.params, "epochs": 2, "latent_per_class": 3}
    a, ha, _ = vae.train_vae(taps, y, 3, params, CPU, init_seed=7, batch_seed=8)
    b, hb, _ = vae.train_vae(taps, y, 3, params, CPU, init_seed=7, batch_seed=8)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_graphed_vae_training_follows_the_eager_one():
    cuda = torch.device("cuda")
    taps, y = mixture(200)  # 200 = 3 full batches of 64 and a last one of 8: two graphs
    params = {**SPEC.params, "epochs": 3, "lr": 1e-3}
    a, ha, _ = vae.train_vae(taps, y, 3, params, cuda, init_seed=7, batch_seed=8, fast=False)
    b, hb, _ = vae.train_vae(taps, y, 3, params, cuda, init_seed=7, batch_seed=8, fast=True)
    np.testing.assert_allclose([h["loss"] for h in ha], [h["loss"] for h in hb], rtol=1e-4)
    assert [h["agreement"] for h in ha] == [h["agreement"] for h in hb]
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k], rtol=1e-3, atol=1e-5)


# ----------------------------------------------------------------------------- the method
def synthetic_round(tmp_path: Path, n_labelled=30, n_unlabelled=120, k=3):
    """A RoundContext over mixture features, as the extract_features step would write them."""
    taps, y = mixture(n_labelled + n_unlabelled, k)
    pred = y.clone()
    pred[n_labelled::7] = (pred[n_labelled::7] + 1) % k  # a classifier that errs sometimes
    return round_on_features(tmp_path, taps, y, pred, k, n_labelled, seed=3, round_=1)


def round_on_features(tmp_path, taps, y, pred, k, n_labelled, seed, round_, **ctx):
    """Write the features file of a pool (the first ``n_labelled`` labelled) as the
    extract_features step would, and return the round's context over it."""
    ids = np.arange(len(y))
    feats = {
        "sample_id": torch.from_numpy(ids),
        "labelled": torch.from_numpy(ids < n_labelled),
        "taps": [t.half() for t in taps],
        "logits": F.one_hot(pred, k).float(),
        "pred": pred,
    }
    io.save_torch(tmp_path / "features.pt", feats)
    return RoundContext(
        store=SimpleNamespace(num_classes=k),
        split=pd.DataFrame({"sample_id": ids, "label": y.numpy()}),
        labelled=ids[:n_labelled],
        unlabelled=ids[n_labelled:],
        seed=seed,
        round=round_,
        recipe={"device": "cpu"},
        files={"extract_features": tmp_path / "features.pt", "train_vae": tmp_path / "vae.pt"},
        **ctx,
    )


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"likelihood": "all", "w_type": "abs"},
        {"prior": False, "difficulty": False, "w_type": "sigmoid", "lambda": 0},
    ],
)
def test_method_steps_on_synthetic_features(tmp_path, variant):
    ctx = synthetic_round(tmp_path)
    method = VaBAL({"epochs": 3, "mc_samples": 8, "lr": 1e-3, **variant})
    io.save_torch(ctx.files["train_vae"], method.train_vae(ctx))
    ckpt = io.load_torch(ctx.files["train_vae"])  # weights_only
    assert len(ckpt["history"]) == 3 and set(ckpt["collapse"]) >= {"recon_r2", "active_units"}
    scores, diag = method.score(ctx)
    assert scores.shape == ctx.unlabelled.shape and np.isfinite(scores).all()
    json.dumps(diag)  # JSON-able
    assert len(diag["top"]) == 20 and diag["top"][0]["score"] == pytest.approx(scores.max())
    top = diag["top"][0]
    assert (
        top["score"]
        == pytest.approx(-(top["log_difficulty"] + top["log_likelihood"] + top["log_prior"]))
        or variant.get("likelihood") == "all"
    )
    for key in ("vae_classifier_agreement", "vae_accuracy_labelled"):
        assert 0 <= diag[key] <= 1
    assert len(diag["class_prior"]) == 3 and sum(diag["class_prior"]) == pytest.approx(1)
    if not variant.get("prior", True):
        assert all(t["log_prior"] == 0 and t["log_difficulty"] == 0 for t in diag["top"])
    chosen = method.select(ctx, 10, scores)
    assert len(set(chosen.tolist())) == 10 and np.isin(chosen, ctx.unlabelled).all()
    # the same seed gives the same scores
    again, _ = VaBAL({"epochs": 3, "mc_samples": 8, "lr": 1e-3, **variant}).score(ctx)
    assert np.array_equal(scores, again)


def imbalanced_round(tmp_path: Path, seed: int = 0, budget: int = 60) -> RoundContext:
    """A pool like CIFAR-10+[1]'s at round 0: class 0 dominates the labelled set (half of
    it) and the unlabelled pool (10x each other class), and is the broadest cluster, so
    that its samples fill the low-likelihood tail (as the dominant class does on real
    features); a classifier that errs on 15 % of the samples."""
    k, n_lab, n_unl, dims = 4, (40, 8, 8, 8), (600, 60, 60, 60), (16, 32, 64, 128)
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.full((n,), c) for part in (n_lab, n_unl) for c, n in enumerate(part)])
    n, nl = len(y), sum(n_lab)
    noise = torch.where(y[:, None] == 0, 1.6, 1.0)
    taps = []
    for d in dims:
        centers = torch.randn(k, d, generator=g) * 8 / d**0.5
        taps.append((centers[y] + noise * torch.randn(n, d, generator=g)).relu())
    pred = y.clone()
    flip = torch.rand(n, generator=g) < 0.15
    pred[flip] = torch.randint(0, k, (int(flip.sum()),), generator=g)
    return round_on_features(tmp_path, taps, y, pred, k, nl, seed=1, round_=0, budget=budget)


TABLE1 = {
    "both": {},
    "no_prior": {"prior": False},
    "no_difficulty": {"difficulty": False},
    "neither": {"prior": False, "difficulty": False},
}


def table1_selections(ctx: RoundContext, params: dict) -> dict:
    """Train the VAE once, then score and select with each Table 1 variant."""
    io.save_torch(ctx.files["train_vae"], VaBAL(params).train_vae(ctx))
    out = {}
    for name, variant in TABLE1.items():
        method = VaBAL({**params, **variant})
        scores, diag = method.score(ctx)
        out[name] = (set(method.select(ctx, ctx.budget, scores).tolist()), diag)
    return out


def dominant_share(ctx: RoundContext, chosen: set) -> float:
    return float(np.mean(ctx.labels(np.array(sorted(chosen))) == 0))


FAST = {"epochs": 20, "mc_samples": 20, "lr": 1e-3}


def test_prior_and_difficulty_move_the_selection(tmp_path):
    """The default reading makes Eq. 6's terms commensurate: on an imbalanced pool where
    the VAE learns, the prior moves more than 10 % of the selection and takes it away from
    the dominant class, and the four Table 1 variants select four different sets."""
    ctx = imbalanced_round(tmp_path)
    sel = table1_selections(ctx, FAST)
    chosen, diag = sel["both"]
    assert diag["reading"] == SPEC.params["reading"] == "standardised"
    assert diag["vae_classifier_agreement"] > 0.7 and diag["collapse"]["active_units"] > 0
    assert diag["selection_change"]["prior_off"] > 0.1
    assert len(chosen - sel["no_prior"][0]) / ctx.budget == diag["selection_change"]["prior_off"]
    assert diag["selection_change"]["difficulty_off"] > 0
    assert dominant_share(ctx, chosen) < dominant_share(ctx, sel["no_prior"][0]) - 0.1
    sets = [frozenset(c) for c, _ in sel.values()]
    assert len(set(sets)) == len(TABLE1)
    # the three log-terms spread alike: the likelihood's by construction, the others O(1)
    spread = {k: v["std"] for k, v in diag["terms"].items()}
    assert spread["log_likelihood"] == pytest.approx(1.0)
    assert 0.1 < spread["log_prior"] < 10 and 0.1 < spread["log_difficulty"] < 10


def test_literal_reading_is_inert_and_the_diagnostics_say_so(tmp_path):
    """The paper's literal reading (log p(x|y^) in nats, summed over 240 features) on the
    same pool: the ELBO spreads ~20 nats, the prior and difficulty under 1, and the four
    Table 1 variants select the same samples; the diagnostics record both facts."""
    ctx = imbalanced_round(tmp_path)
    sel = table1_selections(ctx, {**FAST, "reading": "literal"})
    chosen, diag = sel["both"]
    assert diag["terms"]["log_likelihood"]["std"] > 10 * diag["terms"]["log_prior"]["std"]
    assert diag["selection_change"] == {"budget": 60, "prior_off": 0.0, "difficulty_off": 0.0}
    assert all(c == chosen for c, _ in sel.values())


def test_table2_variants_select_differently(tmp_path):
    ctx = imbalanced_round(tmp_path)
    chosen = {}
    for w_type in ("z2", "abs", "sigmoid"):
        method = VaBAL({**FAST, "w_type": w_type})
        io.save_torch(ctx.files["train_vae"], method.train_vae(ctx))
        scores, _ = method.score(ctx)
        chosen[w_type] = frozenset(method.select(ctx, ctx.budget, scores).tolist())
    assert len(set(chosen.values())) == 3


@pytest.mark.parametrize("reading", ["per_feature", "literal", "authors"])
def test_each_reading_scores_the_pool(tmp_path, reading):
    ctx = imbalanced_round(tmp_path)
    method = VaBAL({**FAST, "reading": reading, "epochs": 3})
    io.save_torch(ctx.files["train_vae"], method.train_vae(ctx))
    scores, diag = method.score(ctx)
    assert scores.shape == ctx.unlabelled.shape and np.isfinite(scores).all()
    expected_t = {"per_feature": 240.0, "literal": 1.0, "authors": 1.0}[reading]
    assert diag["likelihood_temperature"] == expected_t
    if reading == "authors":  # 1 - sum_n p_U(n) loss_n, the prior from the unlabelled pool
        assert diag["class_prior"] == pytest.approx(diag["vae_vote_share_unlabelled"])
        assert diag["label_difficulty"] == [1.0] * 4
        assert (scores <= 1).all()
    else:
        top = diag["top"][0]
        assert top["score"] == pytest.approx(
            -(top["log_difficulty"] + top["log_likelihood"] + top["log_prior"])
        )


def test_likelihood_temperature_and_authors_score_by_hand():
    ll = torch.tensor([-10.0, -12.0, -14.0], dtype=torch.float64)
    assert vae.likelihood_temperature("literal", ll, 240) == 1.0
    assert vae.likelihood_temperature("per_feature", ll, 240) == 240.0
    assert vae.likelihood_temperature("standardised", ll, 240) == pytest.approx(2.0)
    assert vae.likelihood_temperature("standardised", ll[:1], 240) == 1.0
    with pytest.raises(ValueError, match="unknown reading"):
        vae.likelihood_temperature("z", ll, 240)
    loss = torch.tensor([[0.5, 2.0], [1.0, 1.0]], dtype=torch.float64)
    prior = torch.tensor([0.25, 0.75], dtype=torch.float64)
    torch.testing.assert_close(
        vae.authors_score(loss, prior), torch.tensor([1 - 1.625, 0.0], dtype=torch.float64)
    )
    x, x_hat = torch.zeros(1, 4), torch.ones(2, 1, 4)  # two draws, squared error 1 each
    mu, logvar = torch.ones(1, 2), torch.zeros(1, 2)  # KL 0.5 per latent dimension
    torch.testing.assert_close(vae.authors_loss(x, x_hat, mu, logvar), torch.tensor([1.5]))


def test_registry_defaults_and_bad_parameters():
    info = REGISTRY["vabal"]
    assert info.params == SPEC.params
    assert info.steps == ("extract_features", "train_vae", "score")
    SPEC.check_params({**SPEC.params, "lambda": 0, "likelihood": "all"}, "methods.v")
    for key, bad in [
        ("lambda", -1),
        ("mc_samples", 0),
        ("w_type", "foo"),
        ("likelihood", "mean"),
        ("reading", "nats"),
        ("prior", "yes"),
        ("epochs", 1.5),
        ("batch_size", 1),
        ("lr", 0),
        ("smoothing", 0),
    ]:
        with pytest.raises(ConfigError, match=rf"methods\.v\.{key}"):
            SPEC.check_params({key: bad}, "methods.v")
        with pytest.raises(ConfigError, match=key):
            VaBAL({key: bad})
    with pytest.raises(ConfigError, match="unknown"):
        VaBAL({"beta": 1})


# ----------------------------------------------------------------------------- workflow
def test_workflow_digits_chain_invariants_and_determinism(tmp_path, snakemake_run, tiny_config):
    from vabal.plan import config as cfg_mod
    from vabal.run import rounds

    cfg = tiny_config
    cfg["methods"]["vabal"] = {"kind": "vabal", "epochs": 2, "mc_samples": 5}
    cfg["runs"] = [{"datasets": ["digits_plus1"], "methods": ["vabal"]}]
    cfg["figures"] = {}
    run = layout.round_path("", "results", dataset="digits_plus1", method="vabal", seed=0, round=0)
    # an option after --quiet's list of choices, so the target is read as a target
    snakemake_run(tmp_path, cfg, targets=(f"{run}/selection.parquet",), extra=("--cores", "2"))
    out = tmp_path / run
    for name in ("features.pt", "vae.pt", "scores.parquet", "score_diagnostics.json"):
        assert (out / name).exists(), name
    budget = cfg["datasets"]["digits_plus1"]["budget"]
    split = rounds.read_split(tmp_path / "results/splits/digits_plus1/seed0.parquet")
    labelled = io.read_parquet(out / "labelled.parquet", ["sample_id"])["sample_id"].to_numpy()
    selection = io.read_parquet(out / "selection.parquet", ["sample_id", "score"])
    chosen = selection["sample_id"].to_numpy()
    roles = split.set_index("sample_id").loc[chosen, "role"]
    assert len(chosen) == budget and len(set(chosen.tolist())) == budget
    assert not np.isin(chosen, labelled).any()
    assert (roles == "pool").all()  # never val, test or removed samples
    scores = io.read_parquet(out / "scores.parquet", ["sample_id", "score"])
    assert np.isfinite(scores["score"]).all()
    assert selection["score"].min() >= np.sort(scores["score"].to_numpy())[-budget]
    diag = io.read_json(out / "score_diagnostics.json")
    assert len(diag["vae_history"]) == 2 and len(diag["class_prior"]) == 10

    # the same seed again (steps run in this process): the same selection
    valid = cfg_mod.validate(dict(cfg, results=str(tmp_path / "results")))
    recipe = cfg_mod.training_recipe(valid, "digits_plus1", "vabal")
    params = {k: v for k, v in cfg["methods"]["vabal"].items() if k != "kind"}
    again = tmp_path / "again"
    files = {"classifier": out / "classifier.pt"}
    for step, name in [
        ("extract_features", "features.pt"),
        ("train_vae", "vae.pt"),
        ("score", "scores.parquet"),
    ]:
        ctx = rounds.context(
            tmp_path / "results/data/digits",
            tmp_path / "results/splits/digits_plus1/seed0.parquet",
            out / "labelled.parquet",
            recipe,
            0,
            0,
            files,
        )
        rounds.method_step(step, "vabal", params, ctx, again / name, again / "diag.json")
        files[step] = again / name
    rounds.select("vabal", params, ctx, budget, again / "selection.parquet", files["score"])
    repeat = io.read_parquet(again / "selection.parquet", ["sample_id", "score"])
    assert repeat["sample_id"].tolist() == chosen.tolist()
    np.testing.assert_allclose(repeat["score"], selection["score"], rtol=1e-6)
