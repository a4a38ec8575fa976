//! The real-image batch: u8 pixels of the chosen images, scaled to [-1, 1] as the seed does
//! (x / 127.5 - 1).

pub fn gather_images(images: &[u8], pixels: usize, indices: &[u32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(indices.len() * pixels);
    for &i in indices {
        let img = &images[i as usize * pixels..(i as usize + 1) * pixels];
        out.extend(img.iter().map(|&v| (f64::from(v) / 127.5 - 1.0) as f32));
    }
    out
}
