//! Property tests: the stored-node scheme against a naive, recursive
//! transcription of RFC 9162 (MTH, PATH, SUBPROOF), and the verifiers
//! against every single-bit and single-element tampering of valid proofs.

use datamarket::audit::merkle::*;

use proptest::prelude::*;
use std::collections::HashMap;

// ---- Naive reference: RFC 9162 section 2.1, recursion and all. ----

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], b);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

// ---- The log's way: append-only node store. ----

fn make_leaves(size: u64, salt: u64) -> Vec<Hash> {
    (0..size)
        .map(|i| leaf_hash(&[salt.to_le_bytes(), i.to_le_bytes()].concat()))
        .collect()
}

/// Builds the store purely through `append_siblings`/`append_nodes`,
/// checking `CompactRange` against every append on the way.
fn build_store(leaves: &[Hash]) -> (HashMap<NodeId, Hash>, CompactRange) {
    let mut store = HashMap::new();
    let mut compact = CompactRange::new();
    for (n, leaf) in (0u64..).zip(leaves) {
        let siblings: Vec<Hash> = append_siblings(n)
            .into_iter()
            .map(|id| store[&id])
            .collect();
        let appended = append_nodes(n, *leaf, &siblings).expect("append");
        compact.push(*leaf).expect("push");
        assert_eq!(compact.last_completed(), appended, "append {n}");
        for (id, hash) in appended {
            assert!(
                store.insert(id, hash).is_none(),
                "node {id:?} written twice"
            );
        }
    }
    (store, compact)
}

fn root_from_store(store: &HashMap<NodeId, Hash>, size: u64) -> Hash {
    if size == 0 {
        return empty_root();
    }
    let hashes: Vec<Hash> = root_nodes(size).iter().map(|id| store[id]).collect();
    fold_range(&hashes).expect("non-empty")
}

/// Builds a proof as the server does: plan, one batched fetch, fold. The
/// fetch only sees nodes that existed at tree size `size`.
fn serve_proof(store: &HashMap<NodeId, Hash>, ranges: &[(u64, u64)], size: u64) -> Vec<Hash> {
    let fetched: HashMap<NodeId, Hash> = nodes_for_ranges(ranges)
        .into_iter()
        .filter(|id| id.end_leaf() <= size)
        .filter_map(|id| Some((id, *store.get(&id)?)))
        .collect();
    build_proof(ranges, |id| fetched.get(&id).copied()).expect("all planned nodes fetched")
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut h = *hash;
    h[bit / 8 % HASH_LEN] ^= 1 << (bit % 8);
    h
}

/// Every proof that differs from `proof` by one inserted or removed
/// element.
fn resized_proofs(proof: &[Hash], extra: Hash) -> Vec<Vec<Hash>> {
    let mut out = Vec::new();
    for i in 0..=proof.len() {
        let mut p = proof.to_vec();
        p.insert(i, extra);
        out.push(p);
        // Duplicating a genuine element is the sneakiest insertion.
        if let Some(&dup) = proof.get(i) {
            let mut p = proof.to_vec();
            p.insert(i, dup);
            out.push(p);
        }
    }
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p.remove(i);
        out.push(p);
    }
    out
}

/// Asserts that the inclusion proof verifies and that every single-bit flip
/// (of one element, the leaf or the root; bit chosen by `bit_for`) and
/// every single-element insertion or removal is rejected.
fn check_inclusion_tamper(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
    bit_for: &mut dyn FnMut() -> usize,
) {
    assert_eq!(verify_inclusion(index, size, leaf, proof, root), Ok(()));
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i] = flip(&p[i], bit_for());
        assert!(verify_inclusion(index, size, leaf, &p, root).is_err());
    }
    assert!(verify_inclusion(index, size, &flip(leaf, bit_for()), proof, root).is_err());
    assert!(verify_inclusion(index, size, leaf, proof, &flip(root, bit_for())).is_err());
    for p in resized_proofs(proof, flip(root, 0)) {
        assert!(verify_inclusion(index, size, leaf, &p, root).is_err());
    }
}

/// The consistency counterpart of [`check_inclusion_tamper`].
fn check_consistency_tamper(
    first: u64,
    second: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
    bit_for: &mut dyn FnMut() -> usize,
) {
    assert_eq!(
        verify_consistency(first, second, proof, root1, root2),
        Ok(())
    );
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i] = flip(&p[i], bit_for());
        assert!(verify_consistency(first, second, &p, root1, root2).is_err());
    }
    assert!(verify_consistency(first, second, proof, &flip(root1, bit_for()), root2).is_err());
    assert!(verify_consistency(first, second, proof, root1, &flip(root2, bit_for())).is_err());
    for p in resized_proofs(proof, flip(root1, 0)) {
        assert!(verify_consistency(first, second, &p, root1, root2).is_err());
    }
}

proptest! {
    // Each case hashes a few thousand leaves three times over (store,
    // CompactRange, naive MTH); 48 cases keep the debug-mode run to seconds.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_trees(
        size in 1u64..=3000,
        salt in any::<u64>(),
        index_seed in any::<u64>(),
        pair_seed in any::<(u64, u64)>(),
        bit_seed in any::<u64>(),
    ) {
        let leaves = make_leaves(size, salt);
        let (store, compact) = build_store(&leaves);

        let root = root_from_store(&store, size);
        prop_assert_eq!(root, mth(&leaves));
        prop_assert_eq!(compact.root(), root);
        prop_assert_eq!(compact.size(), size);

        // A cheap deterministic stream of bit positions from the case's seed.
        let mut state = bit_seed;
        let mut bit_for = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize % (HASH_LEN * 8)
        };

        let index = index_seed % size;
        let ranges = inclusion_proof_ranges(index, size).expect("index < size");
        let proof = serve_proof(&store, &ranges, size);
        prop_assert_eq!(&proof, &path(index as usize, &leaves));
        check_inclusion_tamper(index, size, &leaves[index as usize], &proof, &root, &mut bit_for);

        let (a, b) = (pair_seed.0 % size + 1, pair_seed.1 % size + 1);
        let (first, second) = (a.min(b), a.max(b));
        let root1 = root_from_store(&store, first);
        let root2 = root_from_store(&store, second);
        prop_assert_eq!(root1, mth(&leaves[..first as usize]));
        prop_assert_eq!(root2, mth(&leaves[..second as usize]));
        let ranges = consistency_proof_ranges(first, second).expect("0 < first <= second");
        let proof = serve_proof(&store, &ranges, second);
        let want = if first == second {
            Vec::new()
        } else {
            subproof(first as usize, &leaves[..second as usize], true)
        };
        prop_assert_eq!(&proof, &want);
        check_consistency_tamper(first, second, &proof, &root1, &root2, &mut bit_for);
    }
}

/// Every index and every size pair of all trees up to 40 leaves, against
/// the naive RFC transcription.
#[test]
fn exhaustive_small_trees() {
    let leaves = make_leaves(40, 7);
    let (store, _) = build_store(&leaves);
    for size in 1..=leaves.len() as u64 {
        let prefix = &leaves[..size as usize];
        let root = root_from_store(&store, size);
        assert_eq!(root, mth(prefix), "root {size}");
        for index in 0..size {
            let ranges = inclusion_proof_ranges(index, size).expect("valid");
            let proof = serve_proof(&store, &ranges, size);
            assert_eq!(proof, path(index as usize, prefix), "path {index} {size}");
            assert_eq!(
                verify_inclusion(index, size, &leaves[index as usize], &proof, &root),
                Ok(())
            );
            // The proof must not also pass for a neighbouring index.
            for other in [index.wrapping_sub(1), index + 1] {
                assert!(
                    verify_inclusion(other, size, &leaves[index as usize], &proof, &root).is_err()
                );
            }
        }
        for first in 1..=size {
            let root1 = root_from_store(&store, first);
            let ranges = consistency_proof_ranges(first, size).expect("valid");
            let proof = serve_proof(&store, &ranges, size);
            let want = if first == size {
                Vec::new()
            } else {
                subproof(first as usize, prefix, true)
            };
            assert_eq!(proof, want, "subproof {first} {size}");
            assert_eq!(
                verify_consistency(first, size, &proof, &root1, &root),
                Ok(())
            );
            // Nor for a neighbouring old size with the same roots.
            for other in [first - 1, first + 1] {
                assert!(verify_consistency(other, size, &proof, &root1, &root).is_err());
            }
        }
    }
}

/// All 256 bit flips of every element, leaf and root, for a handful of
/// shapes (powers of two, one past, one short, odd sizes), where the
/// proptest above samples one bit per element.
#[test]
fn exhaustive_bit_flips() {
    let leaves = make_leaves(300, 11);
    let (store, _) = build_store(&leaves);
    let cases: &[(u64, u64)] = &[
        (0, 1),
        (0, 2),
        (5, 8),
        (255, 256),
        (256, 257),
        (100, 299),
        (298, 299),
    ];
    for &(a, size) in cases {
        let root = root_from_store(&store, size);
        let root_a = root_from_store(&store, a.max(1));
        let inclusion = serve_proof(
            &store,
            &inclusion_proof_ranges(a, size).expect("valid"),
            size,
        );
        let consistency = serve_proof(
            &store,
            &consistency_proof_ranges(a.max(1), size).expect("valid"),
            size,
        );
        for bit in 0..HASH_LEN * 8 {
            let mut fixed = || bit;
            check_inclusion_tamper(a, size, &leaves[a as usize], &inclusion, &root, &mut fixed);
            check_consistency_tamper(a.max(1), size, &consistency, &root_a, &root, &mut fixed);
        }
    }
}
