"""Benchmark: Carlini & Wagner's reference L2 attack (``cw-l2-reference``) vs ART's ``CarliniL2Method``, in one run.

On the first ``--images`` (100) correctly classified test images (full MNIST test set with
``--data-dir``, else the embedded ``mnist-5k`` test split) of ``--arch`` (``paper-cnn``) trained
with :func:`artx.model_cache.train_cached` (5 epochs, seed 0) on the embedded training split,
targeted to (y + 1) mod 10 (C&W evaluate targeted attacks; ``--untargeted`` attacks the true
labels instead). Success = the classifier predicts the target (untargeted: not the true class)
on the returned image; mean L2 over each attack's own successes. All images of
``cw-l2-reference`` run as one batch; ART runs at its default batch_size 1.

(a) quality: ``cw-l2-reference`` at C&W's settings (9 binary-search steps × 10,000 iterations,
    abort early, lr 1e-2, c0 1e-3) vs ART's ``CarliniL2Method`` at its defaults (10 binary-search
    steps × 10 line-searched iterations, lr 1e-2, c0 1e-2): success rate, mean L2, wall time.
    That run goes last (tens of thousands of batched iterations); ``--skip-full`` leaves it out.
(b) speed at equal quality: budgets (binary-search steps × iterations) tried in increasing
    order of steps × iterations, first at C&W's lr 1e-2 and c0 1e-3, then over lr × c0
    (``--lrs`` 1e-2, 1e-1, 5e-1; ``--consts`` 1e-3 … 10; every pair at each budget, the fastest
    match wins). The first budget whose success rate and mean L2 are at least as good as ART's
    defaults is reported with its wall time vs ART's (target, issue: ≥ 20× less), and the time
    of one of its iterations vs one batched forward + backward pass of the model on the batch.

    nice python benchmarks/cw_speed.py [--data-dir DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

TARGET = 20.0
STEPS = (1, 2, 3, 4, 5, 6, 9)
ITERATIONS = (10, 20, 30, 50, 100, 200, 500, 1000, 2000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=None, help="folder with full MNIST (else the embedded mnist-5k test split)"
    )
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--arch", default="paper-cnn", choices=("paper-cnn", "cw-mnist"))
    parser.add_argument("--untargeted", action="store_true", help="attack the true labels instead of (y + 1) mod 10")
    parser.add_argument("--skip-full", action="store_true", help="skip cw-l2-reference at C&W's full settings in (a)")
    parser.add_argument(
        "--lrs", type=float, nargs="*", default=[1e-2, 1e-1, 5e-1], help="learning rates of the second search"
    )
    parser.add_argument(
        "--consts", type=float, nargs="*", default=[1e-3, 1e-2, 1e-1, 1.0, 10.0], help="c0 of the 2nd search"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from art.attacks.evasion import CarliniL2Method

    from artx import data, registry
    from artx.model_cache import train_cached
    from artx.models import to_art_classifier
    from artx.training import TrainingSpec

    if args.threads:
        torch.set_num_threads(args.threads)
    x_train, y_train = data.load("mnist-5k", "train")
    if args.data_dir:
        x_test, y_test = data.load("mnist", "test", data_dir=args.data_dir)
    else:
        x_test, y_test = data.load("mnist-5k", "test")
    trained = train_cached(TrainingSpec(args.arch, epochs=5), x_train, y_train, seed=0, progress=False)
    classifier = to_art_classifier(trained.model)
    predicted = classifier.predict(x_test, batch_size=512).argmax(1)
    chosen = np.flatnonzero(predicted == y_test)[: args.images]
    x, y = np.ascontiguousarray(x_test[chosen]), y_test[chosen]
    labels = y if args.untargeted else (y + 1) % 10
    targeted = not args.untargeted

    def score(x_adv: np.ndarray) -> tuple[float, float]:
        out = classifier.predict(x_adv, batch_size=512).argmax(1)
        ok = out == labels if targeted else out != labels
        l2 = np.sqrt(((x_adv.astype(np.float64) - x) ** 2).reshape(len(x), -1).sum(1))
        return float(ok.mean()), float(l2[ok].mean()) if ok.any() else float("nan")

    def ours(**params) -> tuple[float, float, float, int]:
        attack = registry.create(
            "evasion", "cw-l2-reference", classifier, targeted=targeted, batch_size=len(x), **params
        )
        started = time.perf_counter()
        x_adv = attack.generate(x, labels)
        seconds = time.perf_counter() - started
        return (*score(x_adv), seconds, attack.iterations_)

    task = "untargeted" if args.untargeted else "targeted (y + 1) mod 10"
    print(f"{args.arch} ({'cached' if trained.from_cache else 'trained'}), {len(x)} correctly classified test images")
    print(
        f"  of {'MNIST' if args.data_dir else 'mnist-5k'}, {task}, torch threads {torch.get_num_threads()}", flush=True
    )

    art = CarliniL2Method(classifier, targeted=targeted, verbose=False)
    started = time.perf_counter()
    art_adv = art.generate(x, np.eye(10, dtype=np.float32)[labels])
    art_seconds = time.perf_counter() - started
    art_success, art_l2 = score(art_adv)
    print("(a) quality")
    print(f"  ART CarliniL2Method defaults (10 x 10, line search, batch 1): success {art_success:6.1%}  ", end="")
    print(f"mean L2 {art_l2:.4f}  {art_seconds:8.1f} s", flush=True)

    def search(title: str, settings: list[tuple[float, float]]) -> tuple | None:
        print(f"(b) {title}", flush=True)
        budgets = sorted(itertools.product(STEPS, ITERATIONS), key=lambda b: (b[0] * b[1], b[0]))
        for steps, iterations in budgets:
            matches = []
            for lr, const in settings:
                success, l2, seconds, used = ours(
                    binary_search_steps=steps, max_iter=iterations, learning_rate=lr, initial_const=const
                )
                good = success >= art_success and l2 <= art_l2
                print(
                    f"  {steps} x {iterations:>4}, lr {lr:g}, c0 {const:g}: success {success:6.1%}  mean L2 {l2:7.4f} ",
                    end="",
                )
                print(f"{seconds:7.1f} s  {used:5d} iterations{'  >= ART' if good else ''}", flush=True)
                if good:
                    matches.append((seconds, steps, iterations, lr, const, used))
            if matches:
                return min(matches)
        print(f"  no budget up to {STEPS[-1]} x {ITERATIONS[-1]} matched ART's defaults")
        return None

    faithful = search("speed at equal quality, C&W's lr 1e-2 and c0 1e-3", [(1e-2, 1e-3)])
    tuned = search("speed at equal quality, lr x c0 searched", [(lr, c) for lr in args.lrs for c in args.consts])

    if not args.skip_full:  # last: it takes the longest
        print("(a) quality, continued", flush=True)
        success, l2, seconds, used = ours()
        print(f"  cw-l2-reference at C&W's settings (9 x 10,000, abort early): success {success:6.1%}  ", end="")
        print(
            f"mean L2 {l2:.4f}  {seconds:8.1f} s  ({used} batched iterations, {seconds / art_seconds:.2f}x ART's time)"
        )

    model = classifier.model.eval()
    batch = torch.from_numpy(x).to(classifier.device)

    def forward_backward() -> float:
        started = time.perf_counter()
        w = batch.clone().requires_grad_(True)
        torch.autograd.grad(model(w).sum(), w)
        return time.perf_counter() - started

    # one iteration on the full batch (1 step x 20 iterations, no abort), between two sets of
    # forward + backward passes, so that both see the same machine load
    forward_backward()
    passes = [forward_backward() for _ in range(5)]
    _, _, full_seconds, full_used = ours(binary_search_steps=1, max_iter=20, abort_early=False)
    passes += [forward_backward() for _ in range(5)]
    pass_seconds, iteration_seconds = statistics.median(passes), full_seconds / full_used
    print("(b) summary")
    print(
        f"  one iteration on all {len(x)} images {iteration_seconds * 1e3:.1f} ms vs one batched forward+backward ",
        end="",
    )
    print(f"of {args.arch} {pass_seconds * 1e3:.1f} ms ({iteration_seconds / pass_seconds:.2f}x)")
    best_ratio = 0.0
    for name, found in (("C&W's lr and c0", faithful), ("lr and c0 searched", tuned)):
        if found is None:
            print(f"  {name}: no match")
            continue
        seconds, steps, iterations, lr, const, used = found
        ratio = art_seconds / seconds
        best_ratio = max(best_ratio, ratio)
        print(f"  {name}: cheapest match {steps} x {iterations} (lr {lr:g}, c0 {const:g}): {seconds:.1f} s ", end="")
        print(f"vs ART's {art_seconds:.1f} s = {ratio:.1f}x less wall time ({used} batched iterations, ", end="")
        print(f"{seconds / used * 1e3:.1f} ms each on average: finished images leave the batch)")
    verdict = "PASS" if best_ratio >= TARGET else "FAIL"
    print(f"  >= {TARGET:.0f}x less wall time than ART's defaults at equal quality: {verdict} ({best_ratio:.1f}x)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
