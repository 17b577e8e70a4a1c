"""VaB-AL (Choi, Yi et al., CVPR 2021): select the samples most likely misclassified, by Eq. 6.

The steps of a round: ``extract_features`` (the classifier's pooled stage features, shared
with other methods), ``train_vae`` (the class-regularised VAE of Section 3.3 on the
unlabelled pool) and ``score`` (Eq. 6 from the VAE's likelihoods and its predictions on the
labelled pool); ``select`` keeps the base class's top-``budget`` with seeded tie-breaking.
The equations live in :mod:`vabal.methods.vabal.vae`; this module wires them to a round and
checks nothing itself (the base class checks the parameters against the kind's schema).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from vabal import seeding
from vabal.methods.base import FeaturesMethod, RoundContext, top_k
from vabal.methods.vabal import SPEC

TOP_DIAGNOSTICS = 20  #: samples of highest score whose terms the diagnostics list

log = logging.getLogger(__name__)


class VaBAL(FeaturesMethod):
    """VaB-AL: score = ``-log sum_n p(y_n|y^_n) p(x|y^_n) p(y^_n)`` (Eq. 6), highest first."""

    spec = SPEC

    def __init__(self, params: dict):
        super().__init__(params)
        # torch is imported when the method is built, not when this module is, and before a
        # step starts its clock
        import vabal.learn.features
        import vabal.methods.vabal.vae  # noqa: F401

    def _seed(self, ctx: RoundContext, *tags) -> int:
        return seeding.derive(ctx.seed, "round", ctx.round, "vae", *tags)

    # ------------------------------------------------------------------ steps
    def train_vae(self, ctx: RoundContext) -> dict:
        from vabal.learn.features import load_round_features
        from vabal.learn.training import use_fast_path
        from vabal.methods.vabal import vae

        feats = load_round_features(ctx.files["extract_features"])
        unl = ~feats["labelled"]
        taps = [t[unl] for t in feats["taps"]]
        model, history, seconds = vae.train_vae(
            taps,
            feats["pred"][unl],
            ctx.store.num_classes,
            self.params,
            ctx.device,
            init_seed=self._seed(ctx, "init"),
            batch_seed=self._seed(ctx, "train"),
            fast=use_fast_path(ctx.recipe, ctx.device),
        )
        return {
            "config": model.config(),
            "state_dict": vae.to_state(model),
            "params": dict(self.params),
            "history": history,
            "train_seconds": seconds,
            "n_train": int(unl.sum()),
            "collapse": vae.collapse_diagnostics(model, taps),
        }

    def score(self, ctx: RoundContext) -> tuple[np.ndarray, dict]:
        """Eq. 6 on the unlabelled pool: the terms of the round (:meth:`terms`), combined
        under the configured prior and difficulty switches (:func:`eq6`)."""
        p = self.params
        t = self.terms(ctx)
        scores = eq6(t, p["difficulty"], p["prior"])
        return scores[t.unlabelled_positions], self.diagnostics(ctx, t, scores)

    def terms(self, ctx: RoundContext) -> Terms:
        """The pieces of Eq. 6 for one round, from its features and its trained VAE: per
        class the difficulty p(y|y^) and the prior p(y^) (Eqs. 11-12, Monte Carlo over z of
        the VAE's predictions on the labelled pool), per unlabelled sample its likelihood
        p(x|y^) (Eq. 9 with block C_n masked) under the configured reading."""
        import torch

        from vabal import io
        from vabal.learn.features import load_round_features
        from vabal.methods.vabal import vae

        p, nc, device = self.params, ctx.store.num_classes, ctx.device
        feats = load_round_features(ctx.files["extract_features"])
        ckpt = io.load_torch(ctx.files["train_vae"])
        model = vae.from_state(ckpt["config"], ckpt["state_dict"], device)
        ids, lab = feats["sample_id"].numpy(), feats["labelled"].numpy()
        unl_pos = _positions(ids[~lab], ctx.unlabelled, "unlabelled")
        _positions(ids[lab], ctx.labelled, "labelled")

        def target(mask: np.ndarray) -> torch.Tensor:
            m = torch.from_numpy(mask)
            return model.target(
                [t[m].to(device=device, dtype=torch.float32) for t in feats["taps"]]
            )

        # Eqs. 11-12 on the labelled pool
        gen = vae.seeded_generator(device, self._seed(ctx, "score", "labelled"))
        draws = vae.predict_draws(model, target(lab), p["mc_samples"], gen, p["w_type"])
        labels = torch.as_tensor(ctx.labels(ids[lab]), dtype=torch.long, device=device)
        counts = vae.confusion_counts(labels, draws, nc)
        difficulty = vae.label_difficulty(counts, p["smoothing"])
        prior = vae.class_prior(counts, p["smoothing"])

        # Eq. 9 on the unlabelled pool, under the reading
        gen = vae.seeded_generator(device, self._seed(ctx, "score", "unlabelled"))
        authors = p["reading"] == "authors"
        log_lik, pred, votes = vae.pool_likelihoods(
            model,
            target(~lab),
            p["mc_samples"],
            gen,
            p["w_type"],
            "all" if authors else p["likelihood"],
            "authors_loss" if authors else "elbo",
        )
        log_lik = log_lik.double()
        own = log_lik if log_lik.dim() == 1 else log_lik.gather(1, pred[:, None]).squeeze(1)
        if authors:  # the public code: prior from the unlabelled pool, no difficulty
            prior = votes.mean(0) if len(votes) else torch.full((nc,), 1.0 / nc)
            difficulty = torch.ones_like(prior)
            temperature = 1.0
        else:
            temperature = vae.likelihood_temperature(p["reading"], own, sum(model.stage_dims))
        return Terms(
            log_likelihood=log_lik if authors else log_lik / temperature,
            own_log_likelihood=-own if authors else own / temperature,
            predicted=pred,
            log_difficulty=difficulty.double().log(),
            log_prior=prior.double().log(),
            rule="authors" if authors else p["likelihood"],
            temperature=temperature,
            unlabelled_positions=unl_pos,
            extra={
                "feats": feats,
                "labelled": lab,
                "labels": labels,
                "draws": draws,
                "counts": counts,
                "votes": votes,
                "own": own,
                "ckpt": ckpt,
                "difficulty": difficulty,
                "prior": prior,
            },
        )

    def diagnostics(self, ctx: RoundContext, t: Terms, scores: np.ndarray) -> dict:
        """What a round's scoring did: the spread of each term of Eq. 6, the share of the
        selection the prior and the difficulty move, the VAE's agreement with the classifier,
        the class terms, and the terms of the top-scored samples."""
        import torch

        from vabal.methods.vabal import vae

        p, nc, x = self.params, ctx.store.num_classes, t.extra
        lab, pred, ckpt = x["labelled"], t.predicted, x["ckpt"]
        on = {"difficulty": p["difficulty"], "prior": p["prior"]}
        log_d = t.log_difficulty if on["difficulty"] else torch.zeros_like(t.log_difficulty)
        log_p = t.log_prior if on["prior"] else torch.zeros_like(t.log_prior)
        classifier_pred = x["feats"]["pred"][~torch.from_numpy(lab)].to(ctx.device)
        lab_mode = torch.nn.functional.one_hot(x["draws"], nc).sum(0).argmax(-1)
        top = np.argsort(-scores, kind="stable")[:TOP_DIAGNOSTICS]
        pred_np, term_lik_np = vae.as_numpy(pred), vae.as_numpy(t.own_log_likelihood)
        unl_ids = x["feats"]["sample_id"].numpy()[~lab]
        pos = t.unlabelled_positions
        diagnostics = {
            "reading": p["reading"],
            "likelihood_temperature": t.temperature,
            "terms": {
                "log_likelihood": vae.term_spread(t.own_log_likelihood),
                "log_prior": vae.term_spread(log_p[pred]),
                "log_difficulty": vae.term_spread(log_d[pred]),
            },
            "selection_change": _selection_change(
                ctx,
                scores[pos],
                {
                    "prior_off": eq6(t, on["difficulty"], False)[pos],
                    "difficulty_off": eq6(t, False, on["prior"])[pos],
                },
            ),
            "vae_classifier_agreement": _mean(pred == classifier_pred),
            "vae_accuracy_labelled": _mean(lab_mode == x["labels"]),
            "vae_accuracy_labelled_mc": float(
                x["counts"].diagonal().sum() / max(1, int(lab.sum()))
            ),
            "label_difficulty": vae.as_numpy(x["difficulty"]).tolist(),
            "class_prior": vae.as_numpy(x["prior"]).tolist(),
            "labelled_confusion": vae.as_numpy(x["counts"]).tolist(),
            "vae_predicted_counts_unlabelled": np.bincount(pred_np, minlength=nc).tolist(),
            "vae_vote_share_unlabelled": (
                vae.as_numpy(x["votes"].mean(0)).tolist() if len(x["votes"]) else []
            ),
            "log_likelihood_mean": (
                float(vae.as_numpy(x["own"]).mean()) if x["own"].numel() else None
            ),
            "top": [
                {
                    "sample_id": int(unl_ids[i]),
                    "score": float(scores[i]),
                    "vae_pred": int(pred_np[i]),
                    "classifier_pred": int(classifier_pred[i]),
                    "log_difficulty": float(log_d[pred_np[i]]),
                    "log_likelihood": float(term_lik_np[i]),
                    "log_prior": float(log_p[pred_np[i]]),
                }
                for i in top
            ],
            "vae_history": ckpt["history"],
            "collapse": ckpt["collapse"],
            "params": dict(p),
        }
        change = diagnostics["selection_change"]
        log.info(
            "VAE/classifier agreement %s on the unlabelled pool, VAE accuracy %s on the "
            "labelled pool, active latent units %s/%s; spread (std) of log p(x|y^) %.3g, "
            "log p(y^) %.3g, log p(y|y^) %.3g; selection changed by prior off %s, "
            "difficulty off %s",
            diagnostics["vae_classifier_agreement"],
            diagnostics["vae_accuracy_labelled"],
            ckpt["collapse"].get("active_units"),
            ckpt["collapse"]["latent_dim"],
            *(diagnostics["terms"][k]["std"] or 0.0 for k in diagnostics["terms"]),
            change.get("prior_off"),
            change.get("difficulty_off"),
        )
        return diagnostics


@dataclass
class Terms:
    """The pieces of Eq. 6 on one round's unlabelled pool (torch tensors, float64 logs)."""

    #: log p(x|y^) per sample (n,), or per sample and class (n, classes), tempered
    log_likelihood: object
    #: the likelihood term under the sample's own VAE prediction (n,), tempered
    own_log_likelihood: object
    #: the VAE's prediction y^ per sample (n,)
    predicted: object
    #: log p(y|y^) and log p(y^) per class (classes,)
    log_difficulty: object
    log_prior: object
    #: how the terms combine: "predicted" (the sum's term at y^), "all" (the sum over
    #: classes, as Eq. 6 is written) or "authors" (the public code's score)
    rule: str
    temperature: float
    #: positions of the round's unlabelled ids (sorted) in the features' order
    unlabelled_positions: np.ndarray
    #: what the diagnostics read (features, labelled draws, confusion counts, votes, ...)
    extra: dict = field(default_factory=dict)


def eq6(t: Terms, difficulty_on: bool = True, prior_on: bool = True) -> np.ndarray:
    """Eq. 6: the score of each unlabelled sample, ``-log sum_n p(y_n|y^_n) p(x|y^_n)
    p(y^_n)`` (highest: most likely misclassified), in the features' order. A term switched
    off (Table 1) is set to 1, i.e. its log to 0."""
    import torch

    from vabal.methods.vabal import vae

    log_d = t.log_difficulty if difficulty_on else torch.zeros_like(t.log_difficulty)
    log_p = t.log_prior if prior_on else torch.zeros_like(t.log_prior)
    if t.rule == "authors":
        scores = vae.authors_score(t.log_likelihood, log_p.exp())
    elif t.rule == "predicted":
        scores = vae.misclassification_score(t.log_likelihood, log_d, log_p, t.predicted)
    else:
        scores = vae.misclassification_score(t.log_likelihood, log_d, log_p)
    return vae.as_numpy(scores)


def _selection_change(ctx: RoundContext, scores: np.ndarray, others: dict) -> dict:
    """The share of the round's selection (the ``budget`` highest ``scores``, ties broken as
    ``select`` breaks them) that changes under each of ``others`` (name -> scores, e.g. the
    prior set to 1): 0 means that term cannot move the selection."""
    if not ctx.budget or not len(scores):
        return {}
    budget = min(ctx.budget, len(scores))

    def chosen(s: np.ndarray) -> set:
        return set(top_k(ctx.unlabelled, s, budget, ctx.rng("tie-break")).tolist())

    base = chosen(scores)
    return {"budget": budget, **{k: len(base - chosen(v)) / budget for k, v in others.items()}}


def _positions(found: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    """Positions in ``found`` of ``wanted`` (the round's ids); the sets must be equal."""
    from vabal.errors import DataError

    if len(found) != len(wanted) or not np.array_equal(np.sort(found), wanted):
        raise DataError(f"features file does not hold this round's {what} pool")
    order = np.argsort(found, kind="stable")
    return order[np.searchsorted(found[order], wanted)]


def _mean(t) -> float | None:
    return float(t.double().mean()) if t.numel() else None
