//! Properties of the model graph on random models: the traced graph computes exactly what the model
//! computes, counts every parameter once, survives compaction unchanged, and the structural passes
//! keep the function (to rounding) while removing what they say they removed.

use proptest::prelude::*;
use tinylab_classical::graph::{self, FoldBatchNorm, FuseActivations, NodeOp, Pass};
use tinylab_classical::nn::{
    self, Act, BatchNorm, Conv2d, Ctx, Dropout, Linear, MaxPool2d, Module, Residual, Sequential,
};
use tinylab_classical::ops::{Activation, Conv2dSpec, Pool2dSpec};
use tinylab_classical::tensor::{rand_uniform, rng, uniform};
use tinylab_classical::{Tensor, Var};

/// A batch norm with random statistics.
fn bn(c: usize, r: &mut rand_chacha::ChaCha8Rng) -> BatchNorm {
    let mut b = BatchNorm::new(c);
    b.gamma.value = rand_uniform(&[c], 0.5, 1.5, r);
    b.beta.value = rand_uniform(&[c], -0.3, 0.3, r);
    b.stats.mean = (0..c).map(|_| (uniform(r) as f32 - 0.5) * 0.4).collect();
    b.stats.var = (0..c).map(|_| 0.5 + uniform(r) as f32).collect();
    b
}

/// A random CNN on `(N, 3, 8, 8)`: `blocks` stages of conv-BN-act, optionally residual, optionally a
/// depthwise conv, a pooling, then flatten and a linear head with dropout before it.
fn random_model(seed: u64, blocks: usize, residual: bool, depthwise: bool, relu6: bool) -> Sequential {
    let mut r = rng(seed);
    let act = Act { kind: if relu6 { Activation::Relu6 } else { Activation::Relu } };
    let mut net = Sequential::new();
    let mut c = 3;
    for b in 0..blocks {
        let w = 4 + 2 * b;
        net = net.push(Conv2d::new(c, w, 3, Conv2dSpec::new(1, 1), b % 2 == 0, &mut r)).push(bn(w, &mut r)).push(act);
        if depthwise {
            net =
                net.push(Conv2d::new(w, w, 3, Conv2dSpec::new(1, 1).with_groups(w), false, &mut r)).push(bn(w, &mut r));
        }
        if residual {
            let body = Sequential::new()
                .push(Conv2d::new(w, w, 1, Conv2dSpec::default(), false, &mut r))
                .push(bn(w, &mut r))
                .push(act);
            net = net.push(Residual { body, shortcut: None, post: Some(Activation::Relu) });
        }
        c = w;
    }
    net.push(MaxPool2d { spec: Pool2dSpec::new(2) }).push(nn::Flatten).push(Dropout { p: 0.3 }).push(Linear::new(
        c * 16,
        5,
        true,
        &mut r,
    ))
}

fn eval(model: &mut dyn Module, x: &Tensor) -> Tensor {
    model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap().value().clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_graph_is_the_model(seed in 0u64..1000, blocks in 1usize..4, residual: bool, depthwise: bool, relu6: bool) {
        let mut m = random_model(seed, blocks, residual, depthwise, relu6);
        let x = rand_uniform(&[3, 3, 8, 8], -1.0, 1.0, &mut rng(seed + 1));
        let mut g = graph::trace(&mut m, &[3, 8, 8]).unwrap();
        // Exactly the same function, at another batch size than traced.
        prop_assert_eq!(g.run(&x).unwrap(), eval(&mut m, &x));
        // Every parameter once, each under its named_params path.
        prop_assert_eq!(graph::cost(&g).params, nn::param_count(&m));
        let names: Vec<String> = g.params().iter().map(|n| n.path.clone()).collect();
        let want: Vec<String> = nn::named_params(&m).into_iter().map(|(n, _)| n).collect();
        let (mut a, mut b) = (names.clone(), want);
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
        // Every node after its inputs; compaction is idempotent.
        for (i, n) in g.nodes().iter().enumerate() {
            prop_assert!(n.inputs.iter().all(|&j| j < i));
        }
        let before = g.summary();
        g.compact();
        prop_assert_eq!(g.summary(), before);
    }

    #[test]
    fn folding_and_fusing_keep_the_function(seed in 0u64..1000, blocks in 1usize..4, residual: bool, depthwise: bool) {
        let mut m = random_model(seed, blocks, residual, depthwise, false);
        let x = rand_uniform(&[2, 3, 8, 8], -1.0, 1.0, &mut rng(seed + 2));
        let want = eval(&mut m, &x);
        let mut g = graph::trace(&mut m, &[3, 8, 8]).unwrap();
        let bns = g.nodes().iter().filter(|n| matches!(n.op, NodeOp::BatchNorm { .. })).count();
        let acts = g.nodes().iter().filter(|n| matches!(n.op, NodeOp::Activation(_))).count();
        let folded = FoldBatchNorm.apply(&mut g).unwrap();
        let fused = FuseActivations::relus().apply(&mut g).unwrap();
        prop_assert_eq!(folded.changed.len(), bns);
        prop_assert_eq!(g.nodes().iter().filter(|n| matches!(n.op, NodeOp::BatchNorm { .. })).count(), 0);
        prop_assert_eq!(
            g.nodes().iter().filter(|n| matches!(n.op, NodeOp::Activation(_))).count(),
            acts - fused.changed.len()
        );
        let got = g.run(&x).unwrap();
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (a, b) in got.iter().zip(want.iter()) {
            prop_assert!((a - b).abs() <= 1e-4 * scale, "{} vs {}", a, b);
        }
    }
}
