use std::time::Instant;
use wgpu::util::DeviceExt;
const M: u32 = 4096;
const N: u32 = 128;
const K: u32 = 1024;
fn main() {
    pollster::block_on(run());
}
async fn run() {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = instance.request_adapter(&Default::default()).await.unwrap();
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            required_features: wgpu::Features::SUBGROUP,
            required_limits: adapter.limits(),
            ..Default::default()
        })
        .await
        .unwrap();
    let a: Vec<f32> = (0..M * K)
        .map(|i| ((i * 7 % 13) as f32) * 0.1 - 0.6)
        .collect();
    let b: Vec<f32> = (0..K * N)
        .map(|i| ((i * 5 % 11) as f32) * 0.1 - 0.5)
        .collect();
    let mk = |d: &[f32]| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: None,
            contents: bytemuck::cast_slice(d),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        })
    };
    let (sa, sb, c) = (mk(&a), mk(&b), mk(&vec![0.0; (M * N) as usize]));
    let want: f32 = (0..K as usize)
        .map(|k| a[77 * K as usize + k] * b[k * N as usize + 45])
        .sum();
    for round in 0..2 {
        for (r, c4) in [(8u32, 2u32), (16, 2), (8, 4), (16, 4), (32, 2)] {
            let code = std::fs::read_to_string(format!("/tmp/probe4/k_{r}_{c4}.wgsl")).unwrap();
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: None,
                source: wgpu::ShaderSource::Wgsl(code.into()),
            });
            let pipe = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: None,
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipe.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: sa.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: sb.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: c.as_entire_binding(),
                    },
                ],
            });
            let mut best = f64::MAX;
            for i in 0..4 {
                let mut enc = device.create_command_encoder(&Default::default());
                {
                    let mut p = enc.begin_compute_pass(&Default::default());
                    p.set_pipeline(&pipe);
                    p.set_bind_group(0, &bg, &[]);
                    p.dispatch_workgroups(N / (32 * c4), M / (8 * r), 1);
                }
                let t = Instant::now();
                queue.submit([enc.finish()]);
                device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
                if i > 0 {
                    best = best.min(t.elapsed().as_secs_f64());
                }
            }
            let rb = device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: (M * N * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(&c, 0, &rb, 0, (M * N * 4) as u64);
            queue.submit([enc.finish()]);
            rb.slice(..).map_async(wgpu::MapMode::Read, |_| {});
            device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
            let v: Vec<f32> =
                bytemuck::cast_slice(&rb.slice(..).get_mapped_range().unwrap()).to_vec();
            let got = v[77 * N as usize + 45];
            if round == 1 {
                println!(
                    "shuffle {r}x{}: {:.1} ms {:.1} GFLOP/s (c {got} want {want})",
                    4 * c4,
                    best * 1e3,
                    2.0 * (M * N * K) as f64 / best / 1e9
                );
            }
        }
    }
}
