use dcgan_wgpu::gpu::{GpuContext, GpuOptions};
use dcgan_wgpu::ops::Ops;
use dcgan_wgpu::train::{TrainConfig, Trainer};

fn main() {
    let batch: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(32);
    let ctx = GpuContext::new(&GpuOptions::from_env().unwrap()).unwrap();
    let ops = Ops::new(&ctx).unwrap();
    let images = dcgan_wgpu::data::load_training_images(std::path::Path::new(
        dcgan_wgpu::data::VENDORED_MNIST,
    ))
    .unwrap();
    let config = TrainConfig {
        batch_size: batch,
        ..Default::default()
    };
    let mut t = Trainer::new(&ctx, &ops, config, Some(&images)).unwrap();
    t.run(1).unwrap();
    t.finish().unwrap();
    let p = t.profile_dispatches(3).unwrap();
    let total: f64 = p.iter().map(|x| x.2).sum();
    let mut by: std::collections::BTreeMap<String, f64> = Default::default();
    for (i, (k, wg, s)) in p.iter().enumerate() {
        println!("{i:3} {k:50} {wg:?} {:8.2} ms", s * 1e3);
        *by.entry(k.clone()).or_default() += s;
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (k, s) in v {
        println!("{k:50} {:8.1} ms {:5.1}%", s * 1e3, 100.0 * s / total);
    }
    println!("total {:.1} ms", total * 1e3);
}
