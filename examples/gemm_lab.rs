// Scratch: GEMM formulations on this adapter. Not part of the project.
use dcgan_wgpu::gpu::{Bind, GpuContext, GpuOptions, Kernel, shaders::ShaderSource};
fn main() {
    let ctx = GpuContext::new(&GpuOptions::from_env().unwrap()).unwrap();
    let (m, n, k) = (6272usize, 128usize, 1152usize);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let (ab, bb, cb) = (
        ctx.storage_init("a", &a),
        ctx.storage_init("b", &b),
        ctx.storage("c", m * n),
    );
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct P {
        m: u32,
        n: u32,
        k: u32,
        pad: u32,
    }
    let u = ctx.uniform(
        "p",
        &P {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            pad: 0,
        },
    );
    let common = std::fs::read_to_string("lab/common.wgsl").unwrap();
    let mut exact = vec![0f32; 4 * n];
    for r in 0..4 {
        for c in 0..n {
            let mut s = 0f64;
            for kk in 0..k {
                s += (a[r * k + kk] as f64) * (b[kk * n + c] as f64);
            }
            exact[r * n + c] = s as f32;
        }
    }
    for name in std::env::args().skip(1) {
        let src = std::fs::read_to_string(format!("lab/{name}.wgsl")).unwrap();
        let files: &'static [(&'static str, &'static str)] = Box::leak(
            vec![
                ("common", &*Box::leak(common.clone().into_boxed_str())),
                ("v", &*Box::leak(src.into_boxed_str())),
            ]
            .into_boxed_slice(),
        );
        let sh = ShaderSource {
            name: Box::leak(name.clone().into_boxed_str()),
            files,
        };
        let kern = match Kernel::new(&ctx, &sh, "main", &[]) {
            Ok(k) => k,
            Err(e) => {
                println!("{name}: {e}");
                continue;
            }
        };
        let wg = match name.as_str() {
            "v_sub" | "v_subk4" | "v_bcast" | "v_reg84" => {
                [(n as u32).div_ceil(32), (m as u32).div_ceil(64), 1]
            }
            "v_sub88" | "v_sub88g" | "v_t64" => {
                [(n as u32).div_ceil(64), (m as u32).div_ceil(64), 1]
            }
            "v_sub256" => [(n as u32).div_ceil(32), (m as u32).div_ceil(256), 1],
            "v_tile8" => [(n as u32).div_ceil(128), (m as u32).div_ceil(128), 1],
            _ => [(n as u32).div_ceil(64), (m as u32).div_ceil(64), 1],
        };
        let d = kern.dispatch(
            &ctx,
            &[
                ("p", Bind::Uniform(&u)),
                ("a", Bind::Storage(&ab)),
                ("b", Bind::Storage(&bb)),
                ("c", Bind::Storage(&cb)),
            ],
            wg,
        );
        ctx.run([&d]).unwrap();
        let mut times = vec![];
        for _ in 0..3 {
            let t = std::time::Instant::now();
            ctx.run([&d]).unwrap();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let got: Vec<f32> = ctx.read(&cb).unwrap();
        let err = (0..4 * n)
            .map(|i| (got[i] - exact[i]).abs())
            .fold(0f32, f32::max);
        println!(
            "{name}: {:.1} ms, {:.2} GFLOP/s, err {err:.2e}",
            times[0] * 1e3,
            2.0 * (m * n * k) as f64 / times[0] / 1e9
        );
    }
}
