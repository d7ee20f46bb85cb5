"""KMV/theta sketches against brute force on generated audiences: counts and intersections
within the theoretical error, exact when small, mergeable exactly, deterministic, and blind
to what the names contain."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from vieweratlas.analysis.sketches import (
    Sketches,
    approx_similar_to,
    approx_top_similar,
    estimate_shared,
    hash_strings,
    hash_viewers,
    merge,
    sketch_entries,
    sketch_incidence,
)
from vieweratlas.errors import AnalysisError

K = 128


def audiences(seed: int, channels: int = 40, users: int = 30_000) -> tuple[np.ndarray, np.ndarray]:
    """(channel, user) entries with planted groups: each user watches 1–6 channels, mostly
    in their group of eight, so pairs range from disjoint to heavily shared. Duplicates kept
    (a user seen in several windows)."""
    rng = np.random.default_rng(seed)
    per_user = rng.integers(1, 7, users)
    user = np.repeat(np.arange(users), per_user)
    group = rng.integers(0, channels // 8, users)[user]
    popular = rng.zipf(1.6, len(user)) % 8  # skewed: a few big channels per group
    home = group * 8 + popular
    stray = rng.integers(0, channels, len(user))
    channel = np.where(rng.random(len(user)) < 0.85, home, stray)
    dup = rng.random(len(user)) < 0.3
    return np.concatenate([channel, channel[dup]]), np.concatenate([user, user[dup]])


def names(n: int, prefix: str = "c") -> pa.Array:
    return pa.array([f"{prefix}{i:03d}" for i in range(n)])


def build(channel: np.ndarray, user: np.ndarray, n: int, k: int = K) -> Sketches:
    logins = pa.array([f"u{u}" for u in range(int(user.max()) + 1)])
    hashes = hash_viewers(pa.repeat(pa.scalar("twitch"), len(logins)), logins)[user]
    return sketch_entries(channel, hashes, pa.repeat(pa.scalar("twitch"), n), names(n), k=k)


def truth(channel: np.ndarray, user: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    b = np.zeros((int(user.max()) + 1, n), dtype=np.int64)
    b[user, channel] = 1
    return b.sum(axis=0), b.T @ b


@pytest.fixture(scope="module")
def world() -> tuple[Sketches, np.ndarray, np.ndarray, int]:
    channel, user = audiences(seed=11)
    n = 40
    sizes, shared = truth(channel, user, n)
    return build(channel, user, n), sizes, shared, len(np.unique(user))


def test_hash_has_no_collisions_and_spreads() -> None:
    h = hash_strings(pa.array([f"user_{i}" for i in range(200_000)]))
    assert len(np.unique(h)) == len(h)
    top = (h >> np.uint64(60)).astype(np.int64)  # the high nibble, what KMV keeps
    counts = np.bincount(top, minlength=16)
    assert np.all(np.abs(counts - len(h) / 16) < 6 * np.sqrt(len(h) / 16))


def test_hash_is_the_same_however_the_strings_are_held() -> None:
    values = ["a", "", "bb", "a", "ç€😀", "x" * 5000, "a/b"]
    plain = hash_strings(pa.array(values))
    assert plain[0] == plain[3] and len(set(plain.tolist())) == 6
    assert np.array_equal(hash_strings(pa.array(values).dictionary_encode()), plain)
    assert np.array_equal(hash_strings(pa.chunked_array([values[:2], values[2:]])), plain)
    assert np.array_equal(hash_strings(pa.array(["z", *values]).slice(1)), plain)
    assert np.array_equal(hash_strings(pa.array(values, pa.large_string())), plain)
    assert not np.array_equal(hash_strings(pa.array(values), seed=1), plain)
    both = hash_viewers(pa.array(["twitch", "kick"]), pa.array(["same", "same"]))
    assert both[0] != both[1]


def test_counts_exact_below_k_and_within_the_error_above(
    world: tuple[Sketches, np.ndarray, np.ndarray, int],
) -> None:
    sk, sizes, _, users = world
    est = sk.viewers()
    small = sizes < K
    assert np.array_equal(est[small], sizes[small].astype(float))
    big = ~small
    assert big.sum() >= 30
    rel = np.abs(est[big] / sizes[big] - 1)
    sigma = 1 / np.sqrt(K - 2)  # relative standard error of the KMV estimate
    assert rel.max() < 4 * sigma
    assert np.mean(rel > 2 * sigma) < 0.15  # about 5 % expected
    assert abs(sk.users() / users - 1) < 4 * sigma


def test_shared_within_the_theta_intersection_error(
    world: tuple[Sketches, np.ndarray, np.ndarray, int],
) -> None:
    sk, _, shared, _ = world
    theta = sk.theta()
    z: list[float] = []
    for c in range(sk.n):
        got = approx_similar_to(sk, c, top=None).to_pylist()
        est = {int(r["other"][1:]): r["shared"] for r in got}
        assert c not in est
        for o in range(sk.n):
            if o == c:
                continue
            t = min(theta[c], theta[o])
            true = shared[c, o]
            sd = np.sqrt(true * (1 - t) / t) + 1  # binomial sampling of the intersection
            assert abs(est.get(o, 0) - true) <= 5 * sd, (c, o, est.get(o), true)
            if true >= K:
                z.append((est.get(o, 0) - true) / sd)
                assert o in est  # a big overlap is never missed
    assert len(z) > 50
    assert np.mean(np.abs(z) > 2) < 0.15  # about 5 % expected beyond two standard errors
    assert abs(float(np.mean(z))) < 0.5  # unbiased


def test_top_of_every_channel_agrees_with_one_column(
    world: tuple[Sketches, np.ndarray, np.ndarray, int],
) -> None:
    sk, _, shared, _ = world
    table = approx_top_similar(sk, top=5, block=7)
    per: dict[str, list[tuple[str, int]]] = {}
    for r in table.to_pylist():
        per.setdefault(r["channel"], []).append((r["other"], r["shared"]))
    for c in range(sk.n):
        one = approx_similar_to(sk, c, top=5).to_pylist()
        assert per[f"c{c:03d}"] == [(r["other"], r["shared"]) for r in one]
        best = set(np.argsort(-np.where(np.arange(sk.n) == c, -1, shared[c]))[:5])
        found = {int(o[1:]) for o, _ in per[f"c{c:03d}"]}
        assert len(best & found) >= 3  # recall of the true top 5


def test_sketch_of_a_union_is_the_merge_of_sketches() -> None:
    channel, user = audiences(seed=5, channels=24, users=8000)
    whole = build(channel, user, 24)
    rng = np.random.default_rng(0)
    day = rng.integers(0, 3, len(channel))
    parts = []
    for d in range(3):
        # each day names its channels in its own order and may miss some
        present = np.unique(channel[day == d])
        perm = rng.permutation(present)
        code = np.searchsorted(perm[np.argsort(perm)], channel[day == d])
        code = np.argsort(perm)[code]
        logins = pa.array([f"u{u}" for u in range(int(user.max()) + 1)])
        h = hash_viewers(pa.repeat(pa.scalar("twitch"), len(logins)), logins)[user[day == d]]
        parts.append(
            sketch_entries(
                code, h, pa.repeat(pa.scalar("twitch"), len(perm)), names(24).take(perm), k=K
            )
        )
    merged = merge(parts)
    order = np.argsort(np.asarray(merged.channel.to_pylist()))
    assert merged.channel.take(pa.array(order)).to_pylist() == whole.channel.to_pylist()
    for i, j in enumerate(order):
        mine = merged.hashes[merged.indptr[j] : merged.indptr[j + 1]]
        assert np.array_equal(mine, whole.hashes[whole.indptr[i] : whole.indptr[i + 1]])
    assert np.array_equal(merged.everyone, whole.everyone)
    assert np.array_equal(merge([merged]).hashes, merged.hashes)  # idempotent
    with pytest.raises(AnalysisError, match="different sizes"):
        merge([parts[0], build(channel, user, 24, k=64)])


def test_output_does_not_depend_on_row_order() -> None:
    channel, user = audiences(seed=3, channels=16, users=4000)
    perm = np.random.default_rng(1).permutation(len(channel))
    a, b = build(channel, user, 16), build(channel[perm], user[perm], 16)
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.hashes, b.hashes)
    assert approx_top_similar(a, top=4).equals(approx_top_similar(b, top=4))


def test_hostile_names_are_just_names() -> None:
    hostile = ["a/b", "\x1b[31mred", "\u202eevil", "", "x" * 3000, "twitch/c", "; DROP TABLE"]
    n = len(hostile)
    users = pa.array(["u1", "u2", "u3", "u\x00", "\u202eu"])
    rows = np.array([0, 0, 1, 1, 2, 3, 4, 4])
    cols = np.array([0, 1, 0, 1, 2, 3, 4, 5])
    import scipy.sparse as sp

    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), n))
    sk = sketch_incidence(
        m, pa.repeat(pa.scalar("twitch"), 5), users, pa.repeat(pa.scalar("twitch"), n),
        pa.array(hostile), k=16,
    )  # fmt: skip
    assert sk.channel.to_pylist() == hostile
    assert sk.viewers().tolist() == [2, 2, 1, 1, 1, 1, 0]
    got = approx_similar_to(sk, 0, top=None).to_pylist()
    assert [(r["other"], r["shared"]) for r in got] == [("\x1b[31mred", 2)]
    merged = merge([sk, sk])
    assert sorted(merged.channel.to_pylist()) == sorted(hostile)  # "a/b" stays one channel


def test_sketch_size_is_checked() -> None:
    with pytest.raises(AnalysisError, match="sketch size 4"):
        sketch_entries(np.zeros(1, np.int64), np.zeros(1, np.uint64), names(1), names(1), k=4)


def test_pair_estimates_agree_with_one_column(
    world: tuple[Sketches, np.ndarray, np.ndarray, int],
) -> None:
    sk, _, _, _ = world
    got = {r["other"]: r["shared"] for r in approx_similar_to(sk, 3, top=None).to_pylist()}
    others = np.array([o for o in range(sk.n) if o != 3])
    est = estimate_shared(sk, np.full(len(others), 3), others)
    assert {f"c{o:03d}": round(e) for o, e in zip(others, est, strict=True) if e} == got


def test_each_sketch_is_the_k_smallest_distinct_hashes() -> None:
    channel, user = audiences(seed=9, channels=16, users=6000)
    channel = np.concatenate([channel, np.full(5000, 15)])  # one channel of repeats
    user = np.concatenate([user, np.full(5000, 7)])
    for k in (16, 128, 100_000):
        sk = build(channel, user, 16, k=k)
        logins = pa.array([f"u{u}" for u in range(int(user.max()) + 1)])
        h = hash_viewers(pa.repeat(pa.scalar("twitch"), len(logins)), logins)[user]
        for c in range(16):
            expect = np.unique(h[channel == c])[:k]
            assert np.array_equal(sk.hashes[sk.indptr[c] : sk.indptr[c + 1]], expect)


@pytest.mark.parametrize("k", [16, 128, 100_000])
def test_incidence_path_equals_the_general_one(k: int) -> None:
    import scipy.sparse as sp

    channel, user = audiences(seed=2, channels=24, users=5000)
    key = np.unique(user * 24 + channel)
    u, c = key // 24, key % 24
    m = sp.csr_matrix((np.ones(len(key)), (u, c)), shape=(5000, 24))
    logins = pa.array([f"u{i}" for i in range(5000)])
    twitch = pa.repeat(pa.scalar("twitch"), 5000)
    fast = sketch_incidence(m, twitch, logins, twitch.slice(0, 24), names(24), k=k)
    general = build(channel, user, 24, k=k)
    assert np.array_equal(fast.indptr, general.indptr)
    assert np.array_equal(fast.hashes, general.hashes)
    assert np.array_equal(fast.everyone, general.everyone)
    # two users with one hash (here: the same login twice) are one viewer
    twice = pa.array([*[f"u{i}" for i in range(4999)], "u0"])
    dup = sketch_incidence(m, twitch, twice, twitch.slice(0, 24), names(24), k=k)
    assert np.all(np.diff(dup.hashes)[np.diff(dup.codes()) == 0] > 0)
