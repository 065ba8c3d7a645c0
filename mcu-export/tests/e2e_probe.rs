//! Scratch end-to-end probe (to become the real host test).
use std::process::Command;
use tinylab_classical::int8::{ConvertOptions, convert};
use tinylab_classical::nn::zoo;
use tinylab_classical::tensor::{randn, rng};
use tinylab_mcu_export::codegen::generate;
use tinylab_mcu_export::graph::McuGraph;
use tinylab_mcu_export::plan::{Planner, plan};

#[test]
#[ignore]
fn probe() {
    let kernels = std::fs::read_to_string("/work/wt-ck/mcu-export/c/tl_kernels.c").unwrap();
    for (name, m, shape) in [
        ("cnn", zoo::reference_cnn(1, 8, 10, 3).unwrap(), [4usize, 1, 8, 8]),
        ("mbv2", zoo::mobilenet_v2(0.35, 10, 5).unwrap(), [4, 3, 40, 40]),
        ("resnet", zoo::resnet_cifar(8, 10, 5).unwrap(), [4, 3, 16, 16]),
    ] {
        let x = randn(&shape, 1.0, &mut rng(2));
        let q = convert(&m, &x, &ConvertOptions::default()).unwrap();
        let g = McuGraph::from_int8(&q).unwrap();
        let xq = q.quantize_input(&x).unwrap();
        let per = xq.len() / shape[0];
        let mut inputs = Vec::new();
        let mut expected = Vec::new();
        for n in 0..shape[0] {
            let s = &xq[n * per..(n + 1) * per];
            let out = q.run_quantized(s, [1, shape[1], shape[2], shape[3]]).unwrap();
            inputs.push(g.engine_input_to_c(s).unwrap());
            expected.push(g.engine_output_to_c(&out).unwrap());
        }
        for p in [Planner::Greedy, Planner::InPlace, Planner::Patch { grid: 2, stage_ops: None }] {
            let Ok(pl) = plan(&g, p) else {
                println!("{name} {p}: no plan");
                continue;
            };
            let code = generate(&g, &pl).unwrap();
            let dir = format!("/tmp/e2e/{name}");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(format!("{dir}/model.c"), &code.model_c).unwrap();
            std::fs::write(format!("{dir}/model.h"), &code.model_h).unwrap();
            std::fs::write(format!("{dir}/tl_kernels.c"), format!("#define TL_SINGLE_ROUNDING 0\n{kernels}")).unwrap();
            std::fs::copy("/work/main/mcu-export/c/tl_kernels.h", format!("{dir}/tl_kernels.h")).unwrap();
            let mut main = String::from("#include <stdio.h>\n#include \"model.h\"\n");
            main += &format!("static const int8_t in[{}][TL_INPUT_SIZE] = {{", inputs.len());
            for i in &inputs {
                main += &format!("{{{}}},", i.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
            }
            main += "};\nint main(void) { int8_t out[TL_OUTPUT_SIZE];\n";
            main += &format!(
                "for (int n = 0; n < {}; ++n) {{ model_invoke(in[n], out); for (int k = 0; k < TL_OUTPUT_SIZE; ++k) printf(\"%d \", out[k]); printf(\"\\n\"); }} return 0; }}\n",
                inputs.len()
            );
            std::fs::write(format!("{dir}/main.c"), main).unwrap();
            let st = Command::new("gcc")
                .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-o"])
                .arg(format!("{dir}/prog"))
                .arg(format!("{dir}/main.c"))
                .arg(format!("{dir}/model.c"))
                .arg(format!("{dir}/tl_kernels.c"))
                .output()
                .unwrap();
            assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
            let run = Command::new(format!("{dir}/prog")).output().unwrap();
            let text = String::from_utf8(run.stdout).unwrap();
            let got: Vec<Vec<i8>> =
                text.lines().map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect()).collect();
            let ok = got == expected;
            println!("{name} {}: arena {} extra {} equal {ok}", pl.planner, pl.arena_bytes, pl.extra_macs);
            if !ok {
                println!(
                    "got {:?}\nexp {:?}",
                    &got[0][..got[0].len().min(10)],
                    &expected[0][..expected[0].len().min(10)]
                );
            }
        }
    }
}
