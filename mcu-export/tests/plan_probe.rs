use tinylab_classical::int8::{ConvertOptions, convert};
use tinylab_classical::nn::zoo;
use tinylab_classical::tensor::{randn, rng};
use tinylab_mcu_export::graph::McuGraph;
use tinylab_mcu_export::plan::{Planner, plan};

#[test]
#[ignore]
fn probe() {
    for (w, res, round) in [
        (0.3f32, 64usize, zoo::make_divisible_channels as fn(usize, f32) -> usize),
        (0.3, 64, zoo::mobilenet_channels),
        (1.0, 224, zoo::make_divisible_channels),
    ] {
        let t = std::time::Instant::now();
        let m = zoo::mobilenet_v2_rounded(w, 1000, 0, round).unwrap();
        let x = randn(&[1, 3, res, res], 1.0, &mut rng(1));
        let q = convert(&m, &x, &ConvertOptions::default()).unwrap();
        let g = McuGraph::from_int8(&q).unwrap();
        println!("w{w} r{res}: convert {:?}, {} ops, {} MACs", t.elapsed(), g.ops.len(), g.macs());
        for p in [Planner::Greedy, Planner::InPlace, Planner::Patch { grid: 4, stage_ops: None }] {
            let pl = plan(&g, p).unwrap();
            println!(
                "  {}: arena {} B ({:.1} KiB) extra MACs {} stage {:?}",
                pl.planner,
                pl.arena_bytes,
                pl.arena_bytes as f64 / 1024.0,
                pl.extra_macs,
                pl.patch.as_ref().map(|s| s.ops)
            );
        }
    }
}
