//! CSR and bitmask storage: exact round trips, closed-form sizes, and sparse x dense kernels checked
//! bit for bit against a plain loop summing in the same order, against dense GEMM within f32
//! summation error, and across thread counts.

use proptest::prelude::*;
use tinylab_classical::Tensor;
use tinylab_classical::compress::sparse::{Bitmask, Csr, break_even, dense_bytes};
use tinylab_classical::ops::gemm_into;
use tinylab_classical::tensor::{self, from_vec};

/// A `rows x cols` matrix with about `density` of its entries non-zero, some of the zeros `-0.0`.
fn sparse_matrix(rows: usize, cols: usize, density: f64, seed: u64) -> Tensor {
    let mut r = tensor::rng(seed);
    let data = (0..rows * cols)
        .map(|_| {
            let keep = tensor::uniform(&mut r) < density;
            let v = (tensor::uniform(&mut r) * 4.0 - 2.0) as f32;
            if keep {
                v
            } else if v < 0.0 {
                -0.0
            } else {
                0.0
            }
        })
        .collect();
    from_vec(&[rows, cols], data).unwrap()
}

/// `C[i, j] = sum over k in increasing order with A[i, k] != 0 of A[i, k] B[k, j]`, from 0.0, one
/// multiply then one add per term: the order the kernels promise.
fn reference_matmul(a: &Tensor, b: &Tensor) -> Vec<f32> {
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    let mut out = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for l in 0..k {
                let av = a[[i, l]];
                if av != 0.0 {
                    acc += av * b[[l, j]];
                }
            }
            out[i * n + j] = acc;
        }
    }
    out
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.iter().copied().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trips_are_exact(rows in 0usize..12, cols in 0usize..140, density in 0.0f64..1.0, seed in 0u64..1000) {
        let a = sparse_matrix(rows, cols, density, seed);
        let nnz = a.iter().filter(|&&v| v != 0.0).count();
        let csr = Csr::from_dense(&a).unwrap();
        let bm = Bitmask::from_dense(&a).unwrap();
        for back in [csr.to_dense(), bm.to_dense()] {
            prop_assert_eq!(back.shape(), a.shape());
            // Every entry equal; non-zeros bit for bit, zeros (either sign) as +0.0.
            let want: Vec<u32> = a.iter().map(|&v| if v == 0.0 { 0 } else { v.to_bits() }).collect();
            prop_assert_eq!(bits(&flat(&back)), want);
        }
        prop_assert_eq!(csr.nnz(), nnz);
        prop_assert_eq!(bm.nnz(), nnz);
        // Closed forms of the storage sizes.
        prop_assert_eq!(csr.storage_bytes(), 4 * (rows + 1) + 8 * nnz);
        prop_assert_eq!(bm.storage_bytes(), (rows * cols).div_ceil(8) + 4 * nnz);
        prop_assert_eq!(dense_bytes(rows, cols), 4 * rows * cols);
        // CSR invariants: pointers from 0 to nnz, non-decreasing; columns increasing within a row.
        let rp = csr.row_ptr();
        prop_assert_eq!(rp.len(), rows + 1);
        prop_assert_eq!(rp[0], 0);
        prop_assert_eq!(rp[rows] as usize, nnz);
        for i in 0..rows {
            let cs = &csr.col_idx()[rp[i] as usize..rp[i + 1] as usize];
            prop_assert!(cs.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(cs.iter().all(|&c| (c as usize) < cols));
        }
        // The bitmask has nnz bits set and no bit past the last entry.
        prop_assert_eq!(bm.mask().iter().map(|w| w.count_ones() as usize).sum::<usize>(), nnz);
        prop_assert_eq!(bm.mask().len(), (rows * cols).div_ceil(64));
    }

    #[test]
    fn matmul_matches_the_ordered_loop_exactly_and_gemm_within_rounding(
        m in 1usize..10, k in 1usize..80, n in 0usize..150, density in 0.0f64..1.0, seed in 0u64..1000,
    ) {
        let a = sparse_matrix(m, k, density, seed);
        let b = tensor::rand_uniform(&[k, n], -1.0, 1.0, &mut tensor::rng(seed + 1));
        let csr = Csr::from_dense(&a).unwrap().matmul(&b).unwrap();
        let bm = Bitmask::from_dense(&a).unwrap().matmul(&b).unwrap();
        prop_assert_eq!(csr.shape(), &[m, n]);
        let want = reference_matmul(&a, &b);
        prop_assert_eq!(bits(&flat(&csr)), bits(&want));
        prop_assert_eq!(bits(&flat(&bm)), bits(&want));
        // Dense GEMM sums in another order (and with FMA): equal within k ulps of sum |a||b|.
        let mut dense = vec![0.0f32; m * n];
        gemm_into(m, n, k, a.as_slice().unwrap(), k, 1, b.as_slice().unwrap(), n, 1, &mut dense, false).unwrap();
        for i in 0..m {
            for j in 0..n {
                let scale: f32 = (0..k).map(|l| (a[[i, l]] * b[[l, j]]).abs()).sum();
                let tol = 2.0 * k as f32 * f32::EPSILON * scale + f32::MIN_POSITIVE;
                prop_assert!((csr[[i, j]] - dense[i * n + j]).abs() <= tol);
            }
        }
    }

    #[test]
    fn matvec_matches_the_ordered_loop_exactly(
        m in 0usize..20, k in 1usize..200, density in 0.0f64..1.0, seed in 0u64..1000,
    ) {
        let a = sparse_matrix(m, k, density, seed);
        let x = tensor::rand_uniform(&[k], -1.0, 1.0, &mut tensor::rng(seed + 7));
        let x2 = x.clone().into_shape_with_order(vec![k, 1]).unwrap();
        let want = reference_matmul(&a, &x2);
        let csr = Csr::from_dense(&a).unwrap().matvec(&x).unwrap();
        let bm = Bitmask::from_dense(&a).unwrap().matvec(&x).unwrap();
        prop_assert_eq!(csr.shape(), &[m]);
        prop_assert_eq!(bits(&flat(&csr)), bits(&want));
        prop_assert_eq!(bits(&flat(&bm)), bits(&want));
    }
}

#[test]
fn higher_rank_tensors_use_the_first_axis_as_rows() {
    // A conv weight (4, 3, 2, 2) is the matrix (4, 12); the round trip keeps the 4-d shape.
    let a = sparse_matrix(4, 12, 0.4, 3).into_shape_with_order(vec![4, 3, 2, 2]).unwrap();
    let csr = Csr::from_dense(&a).unwrap();
    assert_eq!((csr.rows(), csr.cols()), (4, 12));
    assert_eq!(csr.to_dense(), a);
    let bm = Bitmask::from_dense(&a).unwrap();
    assert_eq!((bm.rows(), bm.cols()), (4, 12));
    assert_eq!(bm.to_dense(), a);
}

#[test]
fn known_small_example() {
    // [[0, 2, 0], [0, 0, 0], [1, 0, 3]] x [[1, 2], [3, 4], [5, 6]] = [[6, 8], [0, 0], [16, 20]].
    let a = from_vec(&[3, 3], vec![0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 3.0]).unwrap();
    let b = from_vec(&[3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let csr = Csr::from_dense(&a).unwrap();
    assert_eq!(csr.row_ptr(), &[0, 1, 1, 3]);
    assert_eq!(csr.col_idx(), &[1, 0, 2]);
    assert_eq!(csr.values(), &[2.0, 1.0, 3.0]);
    assert_eq!(csr.storage_bytes(), 16 + 24);
    let bm = Bitmask::from_dense(&a).unwrap();
    assert_eq!(bm.mask(), &[0b1_0100_0010]);
    assert_eq!(bm.storage_bytes(), 2 + 12);
    let want = vec![6.0, 8.0, 0.0, 0.0, 16.0, 20.0];
    assert_eq!(flat(&csr.matmul(&b).unwrap()), want);
    assert_eq!(flat(&bm.matmul(&b).unwrap()), want);
    let x = from_vec(&[3], vec![1.0, 10.0, 100.0]).unwrap();
    assert_eq!(flat(&csr.matvec(&x).unwrap()), vec![20.0, 0.0, 301.0]);
    assert_eq!(flat(&bm.matvec(&x).unwrap()), vec![20.0, 0.0, 301.0]);
    assert!((csr.sparsity() - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Large enough for the rayon paths (nnz * n >= 2^18 and nnz >= 2^18 for matvec).
    let a = sparse_matrix(600, 1100, 0.5, 11);
    let b = tensor::rand_uniform(&[1100, 70], -1.0, 1.0, &mut tensor::rng(12));
    let x = tensor::rand_uniform(&[1100], -1.0, 1.0, &mut tensor::rng(13));
    let (csr, bm) = (Csr::from_dense(&a).unwrap(), Bitmask::from_dense(&a).unwrap());
    assert!(csr.nnz() >= 1 << 18);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            [
                flat(&csr.matmul(&b).unwrap()),
                flat(&bm.matmul(&b).unwrap()),
                flat(&csr.matvec(&x).unwrap()),
                flat(&bm.matvec(&x).unwrap()),
            ]
        })
    };
    let one = run(1);
    let many = run(4);
    for (p, q) in one.iter().zip(&many) {
        assert_eq!(bits(p), bits(q));
    }
    assert_eq!(bits(&one[0]), bits(&one[1]));
    assert_eq!(bits(&one[0]), bits(&reference_matmul(&a, &b)));
}

#[test]
fn bad_shapes_are_errors() {
    let a = Csr::from_dense(&sparse_matrix(3, 4, 0.5, 1)).unwrap();
    let bm = Bitmask::from_dense(&sparse_matrix(3, 4, 0.5, 1)).unwrap();
    let wrong = tensor::zeros(&[5, 2]);
    let msg = a.matmul(&wrong).unwrap_err().to_string();
    assert!(msg.contains("[3, 4]") && msg.contains("[5, 2]"), "{msg}");
    assert!(bm.matmul(&wrong).is_err());
    assert!(a.matmul(&tensor::zeros(&[4])).is_err());
    assert!(a.matvec(&tensor::zeros(&[3])).is_err());
    assert!(bm.matvec(&tensor::zeros(&[4, 1])).is_err());
    assert!(Csr::from_dense(&tensor::zeros(&[])).is_err());
    assert!(Bitmask::from_dense(&tensor::zeros(&[])).is_err());
}

#[test]
fn break_even_reads_the_crossing_off_a_sweep() {
    // Sparse time proportional to density, 4x the dense cost at full density: crosses at 75 %.
    let s: Vec<f64> = (0..=10).map(|i| i as f64 / 10.0).collect();
    let t: Vec<f64> = s.iter().map(|x| 4.0 * (1.0 - x)).collect();
    let be = break_even(&s, &t, 1.0).unwrap().unwrap();
    assert!((be - 0.75).abs() < 1e-12, "{be}");
}
