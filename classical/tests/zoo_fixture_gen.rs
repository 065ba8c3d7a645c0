//! One-off generator of `fixtures/graph/zoo_before.json`: what the module-tree walkers (count_macs,
//! fold_batch_norms, prune_channels, int8::convert) produced on the zoo before the model graph
//! replaced them. Run with `cargo test -p tinylab-classical --test zoo_fixture_gen -- --ignored`.

use tinylab_classical::compress::channel::{ChannelPlan, Importance, count_macs, prune_channels};
use tinylab_classical::compress::fold::fold_batch_norms;
use tinylab_classical::int8::{self, ConvertOptions};
use tinylab_classical::nn::{self, Ctx, Module, Sequential, zoo};
use tinylab_classical::tensor::{rand_uniform, rng, uniform};
use tinylab_classical::Var;

fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

fn randomize_bn(model: &mut Sequential, seed: u64) {
    let mut r = rng(seed);
    model.visit_buffers_mut("", &mut |name, b| {
        for v in b.iter_mut() {
            *v = if name.ends_with("running_mean") { (uniform(&mut r) as f32 - 0.5) * 0.4 } else { 0.5 + uniform(&mut r) as f32 };
        }
    });
    model.visit_params_mut("", &mut |_, p| {
        if p.value.ndim() == 1 {
            let n = p.value.len();
            p.value = rand_uniform(&[n], -0.3, 0.3, &mut r) + &p.value;
        }
    });
}

fn state_hash(model: &mut Sequential) -> u64 {
    let sd = nn::state_dict(model);
    let mut bytes = Vec::new();
    for (k, (shape, data)) in &sd.params {
        bytes.extend(k.bytes());
        shape.iter().for_each(|s| bytes.extend((*s as u64).to_le_bytes()));
        data.iter().for_each(|v| bytes.extend(v.to_bits().to_le_bytes()));
    }
    for (k, data) in &sd.buffers {
        bytes.extend(k.bytes());
        data.iter().for_each(|v| bytes.extend(v.to_bits().to_le_bytes()));
    }
    fnv(bytes)
}

fn eval_values(model: &mut Sequential, x: &tinylab_classical::Tensor) -> Vec<f32> {
    let y = model.forward(&Var::constant(x.clone()), &mut Ctx::eval()).unwrap();
    y.value().iter().copied().collect()
}

#[test]
#[ignore]
fn generate() {
    let models: Vec<(&str, Vec<usize>, Box<dyn Fn() -> Sequential>)> = vec![
        ("mlp", vec![1, 8, 8], Box::new(|| zoo::mlp(&[64, 32, 10], 1).unwrap())),
        ("reference_cnn", vec![1, 8, 8], Box::new(|| zoo::reference_cnn(1, 8, 10, 2).unwrap())),
        ("vgg_small", vec![3, 32, 32], Box::new(|| zoo::vgg_small(3, &[8, 16], 10, 3).unwrap())),
        ("resnet8", vec![3, 32, 32], Box::new(|| zoo::resnet_cifar(8, 10, 4).unwrap())),
        ("resnet20", vec![3, 32, 32], Box::new(|| zoo::resnet_cifar(20, 10, 5).unwrap())),
        ("mobilenet_v2", vec![3, 32, 32], Box::new(|| zoo::mobilenet_v2(0.35, 10, 6).unwrap())),
    ];
    let mut out = serde_json::Map::new();
    for (name, shape, build) in &models {
        let mut entry = serde_json::Map::new();
        let mut full = vec![16];
        full.extend(shape);
        let mut r = rng(99);
        let calib = rand_uniform(&full, -1.0, 1.0, &mut r);
        let mut small = vec![4];
        small.extend(shape);
        let x = rand_uniform(&small, -1.0, 1.0, &mut r);
        let mut m = build();
        randomize_bn(&mut m, 11);
        entry.insert("params".into(), nn::param_count(&m).into());
        entry.insert("macs".into(), count_macs(&m, shape).unwrap().into());
        entry.insert("eval".into(), serde_json::to_value(eval_values(&mut m, &x)).unwrap());
        // int8
        let q = int8::convert(&m, &calib, &ConvertOptions::default()).unwrap();
        let xq = q.quantize_input(&x).unwrap();
        let s = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
        let y = q.run_quantized(&xq, s).unwrap();
        entry.insert("int8_shape".into(), serde_json::to_value(&y.shape).unwrap());
        entry.insert("int8_output".into(), serde_json::to_value(&y.data).unwrap());
        let fq = q.forward_fake_quant(&x).unwrap();
        entry.insert("fake_quant".into(), serde_json::to_value(fq.iter().copied().collect::<Vec<f32>>()).unwrap());
        entry.insert("int8_macs".into(), q.macs().unwrap().into());
        entry.insert("int8_size".into(), serde_json::to_value(q.size()).unwrap());
        // BN folding
        let mut folded = build();
        randomize_bn(&mut folded, 11);
        let n = fold_batch_norms(&mut folded).unwrap();
        entry.insert("folded_count".into(), n.into());
        entry.insert("folded_eval".into(), serde_json::to_value(eval_values(&mut folded, &x)).unwrap());
        // channel pruning
        let mut pruned = build();
        randomize_bn(&mut pruned, 11);
        let report = prune_channels(&mut pruned, shape, &ChannelPlan::Uniform(0.5), Importance::L1).unwrap();
        entry.insert("pruned_params".into(), report.params_after.into());
        entry.insert("pruned_macs".into(), report.macs_after.into());
        entry.insert("pruned_state_hash".into(), format!("{:016x}", state_hash(&mut pruned)).into());
        entry.insert("pruned_eval".into(), serde_json::to_value(eval_values(&mut pruned, &x)).unwrap());
        if *name == "reference_cnn" {
            q.save(std::path::Path::new("tests/fixtures/graph/int8_model_v1.ckpt")).unwrap();
        }
        out.insert(name.to_string(), entry.into());
    }
    std::fs::write("tests/fixtures/graph/zoo_before.json", serde_json::to_string_pretty(&out).unwrap()).unwrap();
}
