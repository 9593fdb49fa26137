//! Boundary sizes and indices: every call here must return promptly with
//! the right value or error, never panic or loop.

use datamarket::audit::merkle::*;

use std::time::{Duration, Instant};

const MAX: u64 = u64::MAX;

fn h(tag: &str) -> Hash {
    leaf_hash(tag.as_bytes())
}

fn hashes(count: usize) -> Vec<Hash> {
    (0..count).map(|i| h(&i.to_string())).collect()
}

#[test]
fn hashing_primitives() {
    assert_eq!(
        hex::encode(empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // The 0x00 / 0x01 prefixes keep leaves and nodes apart.
    let (a, b) = (h("a"), h("b"));
    let mut concat = Vec::from(a);
    concat.extend_from_slice(&b);
    assert_ne!(leaf_hash(&concat), node_hash(&a, &b));
    assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
    assert_eq!(HASH_LEN, std::mem::size_of::<Hash>());
}

#[test]
fn node_id_coverage() {
    assert_eq!(NodeId::leaf(5), NodeId { level: 0, index: 5 });
    let id = NodeId { level: 3, index: 2 };
    assert_eq!((id.first_leaf(), id.end_leaf()), (16, 24));
    let top = NodeId {
        level: 63,
        index: 0,
    };
    assert_eq!((top.first_leaf(), top.end_leaf()), (0, 1 << 63));
    let last_leaf = NodeId::leaf(MAX - 1);
    assert_eq!(
        (last_leaf.first_leaf(), last_leaf.end_leaf()),
        (MAX - 1, MAX)
    );
    // Ids beyond the u64 leaf space saturate instead of overflowing.
    let beyond = NodeId {
        level: 63,
        index: 1,
    };
    assert_eq!((beyond.first_leaf(), beyond.end_leaf()), (1 << 63, MAX));
    let absurd = NodeId {
        level: 255,
        index: MAX,
    };
    assert_eq!((absurd.first_leaf(), absurd.end_leaf()), (MAX, MAX));
    assert_eq!(
        NodeId {
            level: 200,
            index: 0
        }
        .first_leaf(),
        0
    );
}

#[test]
fn append_plans() {
    assert!(append_siblings(0).is_empty());
    assert_eq!(append_siblings(1), vec![NodeId::leaf(0)]);
    assert_eq!(
        append_siblings(7),
        vec![
            NodeId::leaf(6),
            NodeId { level: 1, index: 2 },
            NodeId { level: 2, index: 0 }
        ]
    );
    assert!(append_siblings(8).is_empty());

    let leaf = h("leaf");
    let (s0, s1) = (h("s0"), h("s1"));
    let nodes = append_nodes(3, leaf, &[s0, s1]).expect("two siblings");
    let l1 = node_hash(&s0, &leaf);
    assert_eq!(
        nodes,
        vec![
            (NodeId::leaf(3), leaf),
            (NodeId { level: 1, index: 1 }, l1),
            (NodeId { level: 2, index: 0 }, node_hash(&s1, &l1)),
        ]
    );
    assert_eq!(
        append_nodes(3, leaf, &[s0]),
        Err(MerkleError::SiblingCount {
            expected: 2,
            got: 1
        })
    );
    assert_eq!(
        append_nodes(0, leaf, &[s0]),
        Err(MerkleError::SiblingCount {
            expected: 0,
            got: 1
        })
    );
}

#[test]
fn append_at_the_top_of_the_u64_range() {
    // Leaf 2^63 - 1 completes the left half of the largest possible tree.
    let n = (1u64 << 63) - 1;
    let siblings = append_siblings(n);
    assert_eq!(siblings.len(), 63);
    assert_eq!(
        siblings[62],
        NodeId {
            level: 62,
            index: 0
        }
    );
    let nodes = append_nodes(n, h("x"), &hashes(63)).expect("63 siblings");
    assert_eq!(
        nodes.last().map(|n| n.0),
        Some(NodeId {
            level: 63,
            index: 0
        })
    );

    // Leaf MAX - 1 is the last one that fits: the tree reaches size MAX.
    let siblings = append_siblings(MAX - 1);
    assert!(siblings.is_empty());
    assert_eq!(append_nodes(MAX - 1, h("x"), &[]).map(|v| v.len()), Ok(1));

    // Leaf MAX would make the size 2^64.
    assert!(append_siblings(MAX).is_empty());
    assert_eq!(
        append_nodes(MAX, h("x"), &hashes(64)),
        Err(MerkleError::IndexOutOfRange {
            index: MAX,
            size: MAX
        })
    );
    assert!(append_nodes(MAX, h("x"), &[]).is_err());
}

#[test]
fn range_decomposition() {
    assert!(range_nodes(0, 0).is_empty());
    assert!(range_nodes(5, 5).is_empty());
    assert!(range_nodes(6, 5).is_empty());
    assert!(root_nodes(0).is_empty());
    assert_eq!(root_nodes(1), vec![NodeId::leaf(0)]);
    assert_eq!(
        root_nodes(7),
        vec![
            NodeId { level: 2, index: 0 },
            NodeId { level: 1, index: 2 },
            NodeId::leaf(6)
        ]
    );
    // Unaligned ranges, greedy from the left.
    assert_eq!(
        range_nodes(3, 13),
        vec![
            NodeId::leaf(3),
            NodeId { level: 2, index: 1 },
            NodeId { level: 2, index: 2 },
            NodeId::leaf(12)
        ]
    );
    // The full u64 range: one node per set bit, none past MAX.
    let nodes = root_nodes(MAX);
    assert_eq!(nodes.len(), 64);
    assert_eq!(
        nodes[0],
        NodeId {
            level: 63,
            index: 0
        }
    );
    assert_eq!(nodes.last().map(NodeId::end_leaf), Some(MAX));
    let nodes = range_nodes(1, MAX);
    assert!(nodes.len() <= 128);
    assert_eq!(nodes.first().map(NodeId::first_leaf), Some(1));
    assert!(
        nodes
            .windows(2)
            .all(|w| w[0].end_leaf() == w[1].first_leaf())
    );
    assert_eq!(nodes.last().map(NodeId::end_leaf), Some(MAX));

    assert_eq!(fold_range(&[]), Err(MerkleError::EmptyRange));
    let (a, b, c) = (h("a"), h("b"), h("c"));
    assert_eq!(fold_range(&[a]), Ok(a));
    assert_eq!(
        fold_range(&[a, b, c]),
        Ok(node_hash(&a, &node_hash(&b, &c)))
    );
}

#[test]
fn proof_plans_at_the_edges() {
    assert_eq!(
        inclusion_proof_ranges(0, 0),
        Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(inclusion_proof_ranges(0, 1), Ok(vec![]));
    assert_eq!(
        inclusion_proof_ranges(1, 1),
        Err(MerkleError::IndexOutOfRange { index: 1, size: 1 })
    );
    assert_eq!(
        inclusion_proof_ranges(MAX, MAX),
        Err(MerkleError::IndexOutOfRange {
            index: MAX,
            size: MAX
        })
    );
    // Bottom-up order: the sibling leaf first, the largest subtree last.
    assert_eq!(
        inclusion_proof_ranges(5, 8),
        Ok(vec![(4, 5), (6, 8), (0, 4)])
    );
    let ranges = inclusion_proof_ranges(MAX - 1, MAX).expect("last leaf");
    assert_eq!(ranges.len(), 63);
    assert_eq!(ranges.last(), Some(&(0, 1 << 63)));
    assert_eq!(inclusion_proof_ranges(0, MAX).map(|r| r.len()), Ok(64));

    for (first, second) in [(0, 0), (0, 1), (0, MAX), (2, 1), (MAX, 1), (MAX, 0)] {
        assert_eq!(
            consistency_proof_ranges(first, second),
            Err(MerkleError::BadSizes { first, second })
        );
    }
    assert_eq!(consistency_proof_ranges(1, 1), Ok(vec![]));
    assert_eq!(consistency_proof_ranges(MAX, MAX), Ok(vec![]));
    assert_eq!(consistency_proof_ranges(4, 8), Ok(vec![(4, 8)]));
    assert_eq!(
        consistency_proof_ranges(3, 8),
        Ok(vec![(2, 3), (3, 4), (0, 2), (4, 8)])
    );
    assert!(consistency_proof_ranges(1, MAX).is_ok_and(|r| r.len() == 64));
    assert!(consistency_proof_ranges(MAX - 1, MAX).is_ok_and(|r| r.len() <= 128));
    assert!(consistency_proof_ranges(1 << 63, MAX).is_ok_and(|r| r.len() <= 128));
}

#[test]
fn node_batching_and_missing_nodes() {
    assert!(nodes_for_ranges(&[]).is_empty());
    let ranges = inclusion_proof_ranges(5, 8).expect("valid");
    let nodes = nodes_for_ranges(&[ranges.clone(), ranges.clone()].concat());
    assert_eq!(
        nodes,
        vec![
            NodeId::leaf(4),
            NodeId { level: 1, index: 3 },
            NodeId { level: 2, index: 0 }
        ]
    );
    assert!(nodes.windows(2).all(|w| w[0] < w[1]));

    // Which node is missing is reported, so the caller can tell a bug from a
    // short read.
    let result = build_proof(&ranges, |id| (id != NodeId::leaf(4)).then(|| h("x")));
    assert_eq!(result, Err(MerkleError::MissingNode(NodeId::leaf(4))));
    assert_eq!(
        build_proof(&[(3, 3)], |_| Some(h("x"))),
        Err(MerkleError::EmptyRange)
    );
    assert_eq!(build_proof(&[], |_| None), Ok(vec![]));
}

#[test]
fn inclusion_verification_edges() {
    let (leaf, root) = (h("leaf"), h("root"));
    // Empty tree: nothing is included in it.
    assert_eq!(
        verify_inclusion(0, 0, &leaf, &[], &empty_root()),
        Err(VerifyError::IndexOutOfRange)
    );
    // One leaf: the root is the leaf hash and the proof is empty.
    assert_eq!(verify_inclusion(0, 1, &leaf, &[], &leaf), Ok(()));
    assert_eq!(
        verify_inclusion(0, 1, &leaf, &[], &root),
        Err(VerifyError::RootMismatch)
    );
    assert_eq!(
        verify_inclusion(0, 1, &leaf, &[leaf], &leaf),
        Err(VerifyError::WrongProofLength {
            expected: 0,
            got: 1
        })
    );
    for (index, size) in [(1, 1), (8, 8), (9, 8), (MAX, MAX), (MAX, 0)] {
        assert_eq!(
            verify_inclusion(index, size, &leaf, &[], &root),
            Err(VerifyError::IndexOutOfRange)
        );
    }
}

#[test]
fn consistency_verification_edges() {
    let (r1, r2) = (h("r1"), h("r2"));
    for (first, second) in [(0, 0), (0, 1), (0, MAX), (2, 1), (MAX, 0), (MAX, MAX - 1)] {
        assert_eq!(
            verify_consistency(first, second, &[], &r1, &r1),
            Err(VerifyError::BadSizes)
        );
    }
    // Proofs from the empty tree are rejected even when they look "right".
    assert_eq!(
        verify_consistency(0, 0, &[], &empty_root(), &empty_root()),
        Err(VerifyError::BadSizes)
    );
    assert_eq!(verify_consistency(1, 1, &[], &r1, &r1), Ok(()));
    assert_eq!(verify_consistency(MAX, MAX, &[], &r1, &r1), Ok(()));
    assert_eq!(
        verify_consistency(5, 5, &[], &r1, &r2),
        Err(VerifyError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(5, 5, &[r1], &r1, &r1),
        Err(VerifyError::WrongProofLength {
            expected: 0,
            got: 1
        })
    );
    assert!(matches!(
        verify_consistency(1, 2, &[], &r1, &r2),
        Err(VerifyError::WrongProofLength {
            expected: 1,
            got: 0
        })
    ));
}

/// The largest sizes must cost no more than their ~64-128 hashes, and
/// proofs of any other length, including huge ones, must be turned away
/// before any hashing.
#[test]
fn huge_sizes_and_oversized_proofs_fail_fast() {
    let start = Instant::now();
    let (leaf, root) = (h("leaf"), h("root"));
    let huge = vec![h("junk"); 100_000];

    let cases: &[(u64, u64)] = &[(0, MAX), (MAX - 1, MAX), (1 << 63, MAX), (12345, MAX - 7)];
    for &(index, size) in cases {
        let expected = inclusion_proof_ranges(index, size).expect("valid").len();
        let proof = hashes(expected);
        assert_eq!(
            verify_inclusion(index, size, &leaf, &proof, &root),
            Err(VerifyError::RootMismatch)
        );
        for bad in [
            &proof[..expected - 1],
            &huge[..expected + 1],
            &huge[..],
            &[],
        ] {
            assert_eq!(
                verify_inclusion(index, size, &leaf, bad, &root),
                Err(VerifyError::WrongProofLength {
                    expected,
                    got: bad.len()
                })
            );
        }
    }

    let cases: &[(u64, u64)] = &[
        (1, MAX),
        (MAX - 1, MAX),
        (1 << 63, MAX),
        (3, MAX),
        ((1 << 62) + 1, MAX - 2),
    ];
    for &(first, second) in cases {
        let expected = consistency_proof_ranges(first, second)
            .expect("valid")
            .len();
        let proof = hashes(expected);
        assert_eq!(
            verify_consistency(first, second, &proof, &leaf, &root),
            Err(VerifyError::RootMismatch)
        );
        for bad in [
            &proof[..expected - 1],
            &huge[..expected + 1],
            &huge[..],
            &[],
        ] {
            assert_eq!(
                verify_consistency(first, second, bad, &leaf, &root),
                Err(VerifyError::WrongProofLength {
                    expected,
                    got: bad.len()
                })
            );
        }
    }
    // Generous bound: the point is "no loop over the tree size".
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// A real tree at the very top of the size range: the proof for the last
/// leaf of a size-MAX tree is generated from synthetic subtree hashes and
/// must verify against the root folded from the same hashes.
#[test]
fn proofs_over_a_synthetic_max_size_tree() {
    // Stand in for the unreachable leaves with one deterministic hash per
    // node; the plan only ever asks for complete subtrees.
    let lookup = |id: NodeId| Some(leaf_hash(format!("{}/{}", id.level, id.index).as_bytes()));
    let size = MAX;
    let root_hashes: Vec<Hash> = root_nodes(size).into_iter().filter_map(lookup).collect();
    let root = fold_range(&root_hashes).expect("non-empty");

    let index = MAX - 1;
    let proof = build_proof(&inclusion_proof_ranges(index, size).expect("valid"), lookup)
        .expect("all nodes available");
    let leaf = lookup(NodeId::leaf(index)).expect("leaf");
    assert_eq!(verify_inclusion(index, size, &leaf, &proof, &root), Ok(()));
    assert_eq!(
        verify_inclusion(index - 1, size, &leaf, &proof, &root),
        Err(VerifyError::WrongProofLength {
            expected: 64,
            got: 63
        })
    );

    let first = 1 << 63;
    let first_root = lookup(NodeId {
        level: 63,
        index: 0,
    })
    .expect("node");
    let proof = build_proof(
        &consistency_proof_ranges(first, size).expect("valid"),
        lookup,
    )
    .expect("all nodes available");
    assert_eq!(
        verify_consistency(first, size, &proof, &first_root, &root),
        Ok(())
    );
    assert!(verify_consistency(first, size, &proof, &root, &root).is_err());
}

#[test]
fn compact_range_basics() {
    let mut range = CompactRange::new();
    assert_eq!(range.size(), 0);
    assert_eq!(range.root(), empty_root());
    assert!(range.last_completed().is_empty());

    let (a, b, c) = (h("a"), h("b"), h("c"));
    range.push(a).expect("push");
    assert_eq!((range.size(), range.root()), (1, a));
    assert_eq!(range.last_completed(), vec![(NodeId::leaf(0), a)]);
    range.push(b).expect("push");
    let ab = node_hash(&a, &b);
    assert_eq!(range.root(), ab);
    assert_eq!(
        range.last_completed(),
        vec![(NodeId::leaf(1), b), (NodeId { level: 1, index: 0 }, ab)]
    );
    range.push(c).expect("push");
    assert_eq!(range.root(), node_hash(&ab, &c));
    assert_eq!(range.last_completed(), vec![(NodeId::leaf(2), c)]);

    let copy = range.clone();
    assert_eq!(copy.root(), range.root());
    assert_eq!(CompactRange::default().root(), empty_root());
}

#[test]
fn errors_display() {
    let messages = [
        MerkleError::IndexOutOfRange { index: 3, size: 2 }.to_string(),
        MerkleError::BadSizes {
            first: 2,
            second: 1,
        }
        .to_string(),
        MerkleError::MissingNode(NodeId { level: 1, index: 4 }).to_string(),
        MerkleError::SiblingCount {
            expected: 2,
            got: 1,
        }
        .to_string(),
        MerkleError::EmptyRange.to_string(),
        VerifyError::IndexOutOfRange.to_string(),
        VerifyError::BadSizes.to_string(),
        VerifyError::WrongProofLength {
            expected: 3,
            got: 4,
        }
        .to_string(),
        VerifyError::RootMismatch.to_string(),
    ];
    assert!(messages.iter().all(|m| !m.is_empty()));
    assert!(messages[2].contains("level 1 index 4"));
    // Both are usable as `dyn Error`, e.g. behind anyhow in the host crate.
    let _: Box<dyn std::error::Error> = Box::new(MerkleError::EmptyRange);
    let _: Box<dyn std::error::Error> = Box::new(VerifyError::RootMismatch);
}
