"""Splits: disjoint by content id, and by group when a dataset has groups."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from deepfake_detect.evaluate.splits import split_by_id


def id_only_split(labels, ids, test_size, seed):
    """The split as it was before groups existed: cached results depend on it staying so."""
    labels = np.asarray(labels)
    unique_ids, first_row, inverse = np.unique(np.asarray(ids), return_index=True, return_inverse=True)
    _, test_ids = train_test_split(
        np.arange(len(unique_ids)), test_size=test_size, random_state=seed, stratify=labels[first_row]
    )
    is_test = np.isin(inverse, test_ids)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def aligned_pairs(n_groups: int, fakes_per_real: int = 2):
    """A real photo and the fakes made from it, per group; ids are unique."""
    labels, ids, groups = [], [], []
    for g in range(n_groups):
        for k in range(1 + fakes_per_real):
            labels.append(int(k > 0))
            ids.append(f"g{g}-{k}")
            groups.append(f"src{g}")
    return labels, ids, groups


def sides(rows_pair, keys):
    train, test = rows_pair
    return {keys[i] for i in train}, {keys[i] for i in test}


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("no_groups", [None, "all-none"])
def test_without_groups_the_split_is_unchanged(seed, no_groups):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60).tolist()
    ids = [f"id{i % 50}" for i in range(60)]  # some copies
    labels = [labels[int(i[2:])] for i in ids]  # copies share a label
    groups = None if no_groups is None else [None] * 60
    got = split_by_id(labels, ids, 0.25, seed, groups=groups)
    want = id_only_split(labels, ids, 0.25, seed)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


@pytest.mark.parametrize("seed", [0, 3])
def test_each_group_stays_on_one_side(seed):
    labels, ids, groups = aligned_pairs(30)
    train, test = split_by_id(labels, ids, 0.2, seed, groups=groups)
    train_groups, test_groups = sides((train, test), groups)
    assert not train_groups & test_groups
    assert len(test_groups) == 6  # 20% of the groups
    assert {labels[i] for i in test} == {0, 1} and {labels[i] for i in train} == {0, 1}


def test_a_shared_picture_joins_its_groups():
    labels, ids, groups = aligned_pairs(20)
    ids[2] = ids[5]  # group 0's fake is byte-identical to group 1's fake
    train, test = split_by_id(labels, ids, 0.3, 0, groups=groups)
    side_of = {groups[i]: "train" for i in train} | {groups[i]: "test" for i in test}
    assert side_of["src0"] == side_of["src1"]
    train_ids, test_ids = sides((train, test), ids)
    assert not train_ids & test_ids


def test_ungrouped_rows_beside_groups_split_by_id():
    labels, ids, groups = aligned_pairs(20)
    labels += [0, 1, 0]
    ids += ["x0", "x1", "x2"]
    groups += [None, None, None]
    train, test = split_by_id(labels, ids, 0.2, 0, groups=groups)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(ids)))
    train_groups, test_groups = sides((train, test), groups)
    assert not (train_groups & test_groups) - {None}
