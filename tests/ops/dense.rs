//! Dense layers: forward, input and weight gradients, every GEMM driver.

use super::*;
use dcgan_wgpu::reference::cases;

/// The shared case (`reference::cases::dense`; the page's checks run it too).
fn dense_case(s: DenseShape, driver: Driver, seed: u64) {
    let g = gpu();
    expect_lines(cases::dense(&g.ctx, &g.ops, s, driver, seed).block_on());
}

#[test]
fn dense_odd_shapes_every_driver() {
    // The last two are 16-byte aligned (inputs and outputs multiples of 4) for `Wide`.
    let shapes = [
        (3, 7, 5),
        (5, 33, 70),
        (1, 100, 1),
        (9, 2, 130),
        (70, 65, 17),
        (7, 36, 68),
        (130, 20, 12),
    ];
    for (n, &(batch, inputs, outputs)) in shapes.iter().enumerate() {
        for driver in drivers() {
            dense_case(
                DenseShape {
                    batch,
                    inputs,
                    outputs,
                },
                driver,
                n as u64,
            );
        }
    }
}

#[test]
fn dense_dcgan_shapes() {
    // G: z -> 7*7*256; D: flatten(4*4*128) -> logit.
    dense_case(
        DenseShape {
            batch: 128,
            inputs: 100,
            outputs: 7 * 7 * 256,
        },
        Driver::Auto,
        10,
    );
    dense_case(
        DenseShape {
            batch: 128,
            inputs: 4 * 4 * 128,
            outputs: 1,
        },
        Driver::Auto,
        11,
    );
}
