//! What one operand value costs a kernel on this adapter, by the way it is read: the figures
//! behind BENCHMARKS.md's account of what bounds the GEMMs on CPU adapters (lavapipe). Not part
//! of the engine; `cargo run --release --example operand_costs` (add `-- gl` for wgpu's GL
//! backend).
//!
//! 1. Per load kind: 512 workgroups of 64 lanes each read 2048 values through one kind of load
//!    (addresses different in every lane, as a GEMM operand's are) into 4 independent sums;
//!    the fastest of 3 dispatches gives nanoseconds per lane and value.
//! 2. A 4096 x 128 x 1024 GEMM with a block of outputs per lane in registers (the loops
//!    written out), its operands read from storage buffers or from Rgba32Float textures;
//!    GFLOP/s of the fastest of 4, checked against the CPU.
//! 3. Two element-wise kernels (LeakyReLU, an Adam update) at workgroup sizes 64 to 512.
//! 4. The GEMM of part 2 through the engine's dense layer with each of its drivers.
//! 5. The engine's subgroup driver on each pass of two convolution layers, and on a dense GEMM
//!    of each one's size.

use std::time::Instant;

use wgpu::util::DeviceExt;

const VALUES: u32 = 2048;
const GROUPS: u32 = 512;
const M: u32 = 4096;
const N: u32 = 128;
const K: u32 = 1024;
/// A batch of 128 of the generator's largest activation (14 x 14 x 64).
const ELEMENTS: u32 = 128 * 14 * 14 * 64;

/// A kernel summing `VALUES` values per lane through `load` (`IDX`: the value's index).
fn load_kernel(decl: &str, prologue: &str, load: &str) -> String {
    let at = |offset: &str| load.replace("IDX", &format!("((j + {offset}u) & 4095u)"));
    format!(
        "{decl}
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(local_invocation_index) u: u32, @builtin(workgroup_id) wid: vec3<u32>) {{
    {prologue}
    var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
    let base = (u * 37u + wid.x * 11u) & 1023u;
    for (var i = 0u; i < {VALUES}u; i += 4u) {{
        let j = base + i;
        a0 += {}; a1 += {}; a2 += {}; a3 += {};
    }}
    out[wid.x * 64u + u] = a0 + a1 + a2 + a3;
}}",
        at("0"),
        at("1"),
        at("2"),
        at("3"),
    )
}

/// The GEMM with an `r` x `4 c4` block per lane (64 columns per workgroup) over `lda(row, k4)`
/// (A's vec4 of k..k+4) and `ldb(k, n4)` (B's vec4 of columns n..n+4), every loop written out
/// so each accumulator is a register name. Returns the WGSL and the rows per workgroup.
fn gemm_kernel(loads: &str, r: u32, c4: u32) -> (String, u32) {
    let lanes_n = 16 / c4;
    let rows = 64 / lanes_n * r;
    let mut s = format!(
        "const KK: u32 = {K}u;\nconst NN: u32 = {N}u;\n{loads}
@group(0) @binding(2) var<storage, read_write> c: array<vec4<f32>>;
@compute @workgroup_size(64, 1, 1)
fn main(@builtin(local_invocation_index) u: u32, @builtin(workgroup_id) wid: vec3<u32>) {{
    let row0 = wid.y * {rows}u + (u / {lanes_n}u) * {r}u;
    let col4 = wid.x * 16u + (u % {lanes_n}u) * {c4}u;
"
    );
    let acc = |i: u32, j: u32| format!("acc{i}_{j}");
    for i in 0..r {
        for j in 0..c4 {
            s += &format!("    var {} = vec4<f32>(0.0);\n", acc(i, j));
        }
    }
    s += "    for (var k4 = 0u; k4 < KK / 4u; k4++) {\n";
    for i in 0..r {
        s += &format!("        let a{i} = lda(row0 + {i}u, k4);\n");
    }
    for kk in 0..4 {
        s += "        {\n";
        for j in 0..c4 {
            s += &format!("            let b{j} = ldb(k4 * 4u + {kk}u, col4 + {j}u);\n");
        }
        for i in 0..r {
            for j in 0..c4 {
                s += &format!("            {} += a{i}[{kk}] * b{j};\n", acc(i, j));
            }
        }
        s += "        }\n";
    }
    s += "    }\n";
    for i in 0..r {
        for j in 0..c4 {
            s += &format!(
                "    c[(row0 + {i}u) * (NN / 4u) + col4 + {j}u] = {};\n",
                acc(i, j)
            );
        }
    }
    (s + "}\n", rows)
}

struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
}

impl Gpu {
    /// The fastest of `runs` dispatches of `code`'s `main` over `grid`, in seconds.
    fn time(
        &self,
        code: &str,
        bind: &[(u32, wgpu::BindingResource)],
        grid: [u32; 2],
        runs: usize,
    ) -> f64 {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: None,
                source: wgpu::ShaderSource::Wgsl(code.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: None,
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        let entries: Vec<wgpu::BindGroupEntry> = bind
            .iter()
            .map(|(binding, resource)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: resource.clone(),
            })
            .collect();
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        // One more run than timed: llvmpipe compiles a shader at its first dispatch.
        (0..=runs)
            .map(|_| {
                let mut encoder = self.device.create_command_encoder(&Default::default());
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&pipeline);
                    pass.set_bind_group(0, &group, &[]);
                    pass.dispatch_workgroups(grid[0], grid[1], 1);
                }
                let start = Instant::now();
                self.queue.submit([encoder.finish()]);
                self.device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .expect("device lost");
                start.elapsed().as_secs_f64()
            })
            .skip(1)
            .fold(f64::MAX, f64::min)
    }

    fn buffer(&self, data: &[f32], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(data),
                usage: usage | wgpu::BufferUsages::COPY_SRC,
            })
    }

    /// An Rgba32Float texture of `width` x `height` texels holding `data` row by row.
    fn texture(&self, data: &[f32], width: u32, height: u32) -> wgpu::TextureView {
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: None,
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        self.queue.write_texture(
            texture.as_image_copy(),
            bytemuck::cast_slice(data),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(width * 16),
                rows_per_image: None,
            },
            size,
        );
        texture.create_view(&Default::default())
    }

    fn read(&self, buffer: &wgpu::Buffer) -> Vec<f32> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: buffer.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
        self.queue.submit([encoder.finish()]);
        staging.slice(..).map_async(wgpu::MapMode::Read, |_| {});
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("device lost");
        let view = staging.slice(..).get_mapped_range().expect("mapped");
        bytemuck::cast_slice(&view).to_vec()
    }
}

fn main() {
    let gl = std::env::args().nth(1).as_deref() == Some("gl");
    let (a, b) = pollster::block_on(run(gl));
    pollster::block_on(engine(gl, &a, &b));
}

/// The 4096 x 1024 A and 1024 x 128 B of part 2, and C[row, col] in f64.
fn check_value(a: &[f32], b: &[f32], row: usize, col: usize) -> f64 {
    (0..K as usize)
        .map(|k| f64::from(a[row * K as usize + k]) * f64::from(b[k * N as usize + col]))
        .sum()
}

async fn engine(gl: bool, a: &[f32], b: &[f32]) {
    use dcgan_wgpu::gpu::{BackendChoice, GpuContext, GpuOptions};
    use dcgan_wgpu::ops::Ops;
    use dcgan_wgpu::ops::conv::Conv2d;
    use dcgan_wgpu::ops::dense::DenseShape;
    use dcgan_wgpu::ops::gemm::{Driver, Pass, WeightGrads};
    let options = GpuOptions {
        backend: if gl {
            BackendChoice::Gl
        } else {
            BackendChoice::Auto
        },
        ..Default::default()
    };
    let ctx = GpuContext::new(&options).await.expect("no adapter");
    let ops = Ops::new(&ctx).expect("kernels");
    println!("\n4. the GEMM of part 2 through the engine's dense layer, by driver:");
    let (x, w, y) = (
        ctx.storage_init("a", a),
        ctx.storage_init("b", b),
        ctx.storage("c", (M * N) as usize),
    );
    let s = DenseShape {
        batch: M as usize,
        inputs: K as usize,
        outputs: N as usize,
    };
    let mut drivers = vec![
        ("tiled", Driver::Tiled { splits: 1 }),
        (
            "wide 64-row tiles",
            Driver::Wide {
                splits: 1,
                rows: 64,
            },
        ),
    ];
    if ctx.has_subgroups() {
        drivers.push((
            "subgroup",
            Driver::Subgroup {
                splits: 1,
                rows: 64,
            },
        ));
        drivers.push((
            "subgroup, 128-row tiles",
            Driver::Subgroup {
                splits: 1,
                rows: 128,
            },
        ));
    }
    let (row, col) = (77, 45);
    let expected = check_value(a, b, row, col);
    for (name, driver) in drivers {
        let dispatches = ops.dense.forward(&ctx, s, Pass::new(&x, &w, &y), driver);
        let best = time(&ctx, &dispatches).await;
        let got: Vec<f32> = ctx.read(&y).await.expect("read");
        let got = got[row * N as usize + col];
        assert!(
            (f64::from(got) - expected).abs() < 1e-3 * expected.abs().max(1.0),
            "{name}: c[{row}, {col}] = {got}, expected {expected}"
        );
        let flop = 2.0 * f64::from(M) * f64::from(N) * f64::from(K);
        println!(
            "   {name:30} {:7.1} ms, {:5.1} GFLOP/s",
            best * 1e3,
            flop / best / 1e9
        );
    }
    if !ctx.has_subgroups() {
        return;
    }
    println!(
        "\n5. the engine's subgroup driver on two convolutions (batch 32), and a dense GEMM of the size of each:"
    );
    let driver = Driver::Subgroup {
        splits: 1,
        rows: 64,
    };
    let layer = |transposed, in_hw, in_c, out_c, stride| Conv2d {
        transposed,
        batch: 32,
        in_h: in_hw,
        in_w: in_hw,
        in_c,
        out_c,
        kernel: 3,
        stride,
    };
    for (name, g) in [
        ("D.conv3", layer(false, 7, 64, 128, 2)),
        ("G.convt2", layer(true, 14, 128, 64, 1)),
    ] {
        let filled = |label, len: usize| ctx.storage_init(label, &vec![0.5f32; len]);
        let (x, w, dy) = (
            filled("x", g.input_len()),
            filled("w", g.kernel_len()),
            filled("dy", g.output_len()),
        );
        let (y, dx, dw) = (
            ctx.storage("y", g.output_len()),
            ctx.storage("dx", g.input_len()),
            ctx.storage("dw", g.kernel_len()),
        );
        // Each pass's multiply-adds: the convolution's output pixels x taps x channel pairs.
        let conv = if g.transposed { g.as_conv() } else { g };
        let macs = conv.output_len() * conv.kernel * conv.kernel * conv.in_c;
        let passes = [
            (
                "forward",
                ops.conv.forward(&ctx, g, Pass::new(&x, &w, &y), driver),
            ),
            (
                "input gradient",
                ops.conv
                    .backward_input(&ctx, g, Pass::new(&dy, &w, &dx), driver),
            ),
            (
                "weight gradient",
                ops.conv
                    .backward_weight(&ctx, g, WeightGrads::new(&x, &dy, &dw), driver),
            ),
        ];
        for (pass, dispatches) in passes {
            let seconds = time(&ctx, &dispatches).await;
            println!(
                "   {name:9} {pass:20} {:5.1} GFLOP/s",
                2.0 * macs as f64 / seconds / 1e9
            );
        }
        // The convolution as a plain GEMM: M output pixels, N output channels, K taps x inputs.
        let (m, n, k) = (
            conv.output_len() / conv.out_c,
            conv.out_c,
            macs / conv.output_len(),
        );
        let s = DenseShape {
            batch: m,
            inputs: k,
            outputs: n,
        };
        let (a, b, c) = (
            filled("a", m * k),
            filled("b", k * n),
            ctx.storage("c", m * n),
        );
        let seconds = time(
            &ctx,
            &ops.dense.forward(&ctx, s, Pass::new(&a, &b, &c), driver),
        )
        .await;
        let dense = format!("dense {m}x{n}x{k}");
        println!(
            "   {name:9} {dense:20} {:5.1} GFLOP/s",
            2.0 * macs as f64 / seconds / 1e9
        );
    }
}

/// The fastest of 4 runs of `dispatches` after an untimed one, in seconds.
async fn time(ctx: &dcgan_wgpu::gpu::GpuContext, dispatches: &[dcgan_wgpu::gpu::Dispatch]) -> f64 {
    let mut best = f64::MAX;
    for run in 0..5 {
        let start = Instant::now();
        ctx.run(dispatches).await.expect("run");
        if run > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    best
}

async fn run(gl: bool) -> (Vec<f32>, Vec<f32>) {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = if gl {
        wgpu::Backends::GL
    } else {
        wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12
    };
    let instance = wgpu::Instance::new(desc);
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions::default())
        .await
        .expect("no adapter");
    let info = adapter.get_info();
    println!("{} ({:?}, {})", info.name, info.backend, info.driver_info);
    let subgroups = adapter.features() & wgpu::Features::SUBGROUP;
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            required_features: subgroups,
            required_limits: adapter.limits(),
            ..Default::default()
        })
        .await
        .expect("no device");
    let gpu = Gpu { device, queue };

    println!("\n1. one value per lane, by load kind (ns per lane and value):");
    let data: Vec<f32> = (0..16384).map(|i| (i % 17) as f32 * 0.01).collect();
    let storage = gpu.buffer(&data, wgpu::BufferUsages::STORAGE);
    let uniform = gpu.buffer(&data[..16384], wgpu::BufferUsages::UNIFORM);
    let texture = gpu.texture(&data, 1024, 4);
    let out = gpu.buffer(
        &vec![0.0; (GROUPS * 64) as usize],
        wgpu::BufferUsages::STORAGE,
    );
    let mut kinds = vec![
        (
            "storage buffer, f32",
            load_kernel(
                "@group(0) @binding(0) var<storage, read> s: array<f32>;",
                "",
                "s[IDX]",
            ),
            1,
        ),
        (
            "storage buffer, vec4",
            load_kernel(
                "@group(0) @binding(0) var<storage, read> s: array<vec4<f32>>;",
                "",
                "dot(s[IDX], vec4(1.0))",
            ),
            4,
        ),
        (
            "uniform buffer, vec4",
            load_kernel(
                "@group(0) @binding(1) var<uniform> s: array<vec4<f32>, 4096>;",
                "",
                "dot(s[IDX], vec4(1.0))",
            ),
            4,
        ),
        (
            "texture, vec4 texel",
            load_kernel(
                "@group(0) @binding(2) var t: texture_2d<f32>;",
                "",
                "dot(textureLoad(t, vec2(IDX & 1023u, IDX >> 10u), 0), vec4(1.0))",
            ),
            4,
        ),
        (
            "workgroup memory, f32",
            load_kernel(
                "var<workgroup> w: array<f32, 4096>;\n@group(0) @binding(0) var<storage, read> s: array<f32>;",
                "for (var q = u; q < 4096u; q += 64u) { w[q] = s[q]; }\n    workgroupBarrier();",
                "w[IDX]",
            ),
            1,
        ),
        (
            "private array, f32",
            load_kernel(
                "",
                "var v: array<f32, 64>;\n    for (var q = 0u; q < 64u; q++) { v[q] = f32(q + u); }",
                "v[IDX & 63u]",
            ),
            1,
        ),
    ];
    if !subgroups.is_empty() {
        kinds.push((
            "subgroup shuffle, f32",
            load_kernel("", "", "subgroupShuffle(f32(IDX), IDX & 3u)"),
            1,
        ));
    }
    for (name, code, width) in &kinds {
        let mut bind = vec![(3, out.as_entire_binding())];
        if code.contains("binding(0)") {
            bind.push((0, storage.as_entire_binding()));
        }
        if code.contains("binding(1)") {
            bind.push((1, uniform.as_entire_binding()));
        }
        if code.contains("binding(2)") {
            bind.push((2, wgpu::BindingResource::TextureView(&texture)));
        }
        let seconds = gpu.time(code, &bind, [GROUPS, 1], 3);
        let values = f64::from(GROUPS * 64 * VALUES);
        println!(
            "   {name:24} {:6.3} ns per lane and load, {:6.3} per value",
            seconds * 1e9 / values,
            seconds * 1e9 / values / f64::from(*width)
        );
    }

    println!("\n2. a {M} x {N} x {K} GEMM, a block of outputs per lane:");
    let a: Vec<f32> = (0..M * K)
        .map(|i| (i * 7 % 13) as f32 * 0.1 - 0.6)
        .collect();
    let b: Vec<f32> = (0..K * N)
        .map(|i| (i * 5 % 11) as f32 * 0.1 - 0.5)
        .collect();
    let (sa, sb) = (
        gpu.buffer(&a, wgpu::BufferUsages::STORAGE),
        gpu.buffer(&b, wgpu::BufferUsages::STORAGE),
    );
    let (ta, tb) = (gpu.texture(&a, K / 4, M), gpu.texture(&b, N / 4, K));
    let c = gpu.buffer(&vec![0.0; (M * N) as usize], wgpu::BufferUsages::STORAGE);
    let from_storage = "@group(0) @binding(0) var<storage, read> sa: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> sb: array<vec4<f32>>;
fn lda(r: u32, k4: u32) -> vec4<f32> { return sa[r * (KK / 4u) + k4]; }
fn ldb(k: u32, n4: u32) -> vec4<f32> { return sb[k * (NN / 4u) + n4]; }";
    let from_textures = "@group(0) @binding(0) var ta: texture_2d<f32>;
@group(0) @binding(1) var tb: texture_2d<f32>;
fn lda(r: u32, k4: u32) -> vec4<f32> { return textureLoad(ta, vec2(k4, r), 0); }
fn ldb(k: u32, n4: u32) -> vec4<f32> { return textureLoad(tb, vec2(n4, k), 0); }";
    let (row, col) = (77usize, 45usize);
    let expected = check_value(&a, &b, row, col);
    let storage_ops = || [sa.as_entire_binding(), sb.as_entire_binding()];
    let texture_ops = || {
        [
            wgpu::BindingResource::TextureView(&ta),
            wgpu::BindingResource::TextureView(&tb),
        ]
    };
    for (name, loads, [ba, bb], (r, c4)) in [
        (
            "storage buffers, 8 x 8",
            from_storage,
            storage_ops(),
            (8, 2),
        ),
        ("textures, 8 x 8", from_textures, texture_ops(), (8, 2)),
        ("textures, 8 x 16", from_textures, texture_ops(), (8, 4)),
        ("textures, 32 x 8", from_textures, texture_ops(), (32, 2)),
    ] {
        let bind = [(0, ba), (1, bb), (2, c.as_entire_binding())];
        let (code, rows) = gemm_kernel(loads, r, c4);
        let seconds = gpu.time(&code, &bind, [N / 64, M / rows], 4);
        let got = gpu.read(&c)[row * N as usize + col];
        assert!(
            (f64::from(got) - expected).abs() < 1e-3 * expected.abs().max(1.0),
            "{name}: c[{row}, {col}] = {got}, expected {expected}"
        );
        let flop = 2.0 * f64::from(M) * f64::from(N) * f64::from(K);
        println!(
            "   operands from {name:24} {:7.1} ms, {:5.1} GFLOP/s",
            seconds * 1e3,
            flop / seconds / 1e9
        );
    }
    println!("\n3. element-wise kernels over {ELEMENTS} values, by workgroup size (ms):");
    let buffers: Vec<wgpu::Buffer> = (0..5)
        .map(|i| {
            let v: Vec<f32> = (0..ELEMENTS)
                .map(|j| ((i + j) % 17) as f32 * 0.1 - 0.8)
                .collect();
            gpu.buffer(&v, wgpu::BufferUsages::STORAGE)
        })
        .collect();
    for (name, body, bindings) in [
        (
            "LeakyReLU",
            "out[i] = select(0.01 * x[i], x[i], x[i] > 0.0);",
            &[0, 4][..],
        ),
        (
            "an Adam update",
            "let g = dy[i]; let mm = 0.9 * m[i] + 0.1 * g; let vv = 0.999 * v[i] + 0.001 * g * g; \
             m[i] = mm; v[i] = vv; out[i] -= 0.001 * mm / (sqrt(vv) + 1e-7);",
            &[1, 2, 3, 4][..],
        ),
    ] {
        let mut line = format!("   {name:16}");
        for size in [64, 128, 256, 512] {
            let code = format!(
                "@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@compute @workgroup_size({size}, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {{
    let i = id.x;
    if i < {ELEMENTS}u {{ {body} }}
}}"
            );
            let bind: Vec<_> = bindings
                .iter()
                .map(|&b| (b, buffers[b as usize].as_entire_binding()))
                .collect();
            let seconds = gpu.time(&code, &bind, [ELEMENTS.div_ceil(size), 1], 7);
            line += &format!("  {size}: {:6.2}", seconds * 1e3);
        }
        println!("{line}");
    }
    (a, b)
}
