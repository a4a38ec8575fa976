//! Kernel parameter blocks: the `#[repr(C)]` structs the host writes into `var<uniform> p`.
//!
//! Each is declared once with [`params!`](crate::params), which also lists its fields' names,
//! offsets and sizes; `Kernel::new` compares that list with naga's layout of the WGSL struct,
//! so a field added, moved or retyped on one side only is an error at pipeline creation, not a
//! kernel silently reading the wrong word. Fields whose names start with `_` are padding.

use super::GpuError;

/// One field of a parameter block: name, byte offset, byte size.
pub type Field = (&'static str, usize, usize);

/// A kernel's parameter block (see the module documentation).
pub trait Params: bytemuck::Pod {
    /// The fields in declaration order.
    fn fields() -> Vec<Field>;
}

/// Declares a `#[repr(C)]` parameter block and its [`Params`] layout:
/// `params! { /// doc \n pub struct GemmParams { pub m: u32, ... } }`.
#[macro_export]
macro_rules! params {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty,)*
        }

        impl $crate::gpu::params::Params for $name {
            fn fields() -> Vec<$crate::gpu::params::Field> {
                let zero = <$name as bytemuck::Zeroable>::zeroed();
                vec![$((
                    stringify!($field),
                    std::mem::offset_of!($name, $field),
                    std::mem::size_of_val(&zero.$field),
                )),*]
            }
        }
    };
}

/// Checks the host's layout of `P` against the WGSL struct that `var<uniform> p` has in
/// `module`: every named (non-padding) field on either side exists on the other at the same
/// offset with the same size, and the host block covers the WGSL struct.
pub fn check<P: Params>(module: &naga::Module, kernel: &str) -> Result<(), GpuError> {
    let fail = |message: String| {
        Err(GpuError::Shader {
            name: kernel.to_string(),
            message,
        })
    };
    let Some((_, var)) = module
        .global_variables
        .iter()
        .find(|(_, v)| v.space == naga::AddressSpace::Uniform && v.name.as_deref() == Some("p"))
    else {
        return fail("no `var<uniform> p` for its parameter block".into());
    };
    let ty = &module.types[var.ty];
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        return fail("`p` is not a struct".into());
    };
    let struct_name = ty.name.clone().unwrap_or_default();
    let mut layouter = naga::proc::Layouter::default();
    if let Err(e) = layouter.update(module.to_ctx()) {
        return fail(format!("layout of {struct_name}: {e}"));
    }
    let host = P::fields();
    let host_size = std::mem::size_of::<P>();
    if host_size < *span as usize {
        return fail(format!(
            "the host's {struct_name} is {host_size} bytes, the WGSL struct {span}"
        ));
    }
    let padding = |name: &str| name.starts_with('_');
    for m in members {
        let name = m.name.as_deref().unwrap_or_default();
        if padding(name) {
            continue;
        }
        let size = layouter[m.ty].size as usize;
        match host.iter().find(|f| f.0 == name) {
            Some(&(_, offset, host_size)) if offset == m.offset as usize && host_size == size => {}
            Some(&(_, offset, host_size)) => {
                return fail(format!(
                    "{struct_name}.{name}: WGSL offset {} size {size}, host offset {offset} \
                     size {host_size}",
                    m.offset
                ));
            }
            None => return fail(format!("{struct_name}.{name} is missing on the host")),
        }
    }
    for &(name, ..) in &host {
        if !padding(name) && !members.iter().any(|m| m.name.as_deref() == Some(name)) {
            return fail(format!(
                "the host's {struct_name}.{name} is not in the WGSL struct"
            ));
        }
    }
    Ok(())
}
