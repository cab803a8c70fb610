//! Which variant of each kernel family a compile lowers to: the GEMM family
//! ([`GemmKernel`]), subgroup or workgroup-memory reductions for the row softmax and layer
//! normalisation, and vec4 or scalar elementwise kernels. [`KernelOptions::for_gpu`] picks what
//! the device supports; tests and `tessera bench` force the others to check and time them side
//! by side.

use super::RuntimeError;
use super::gemm::GemmKernel;
use super::gpu::Gpu;
use serde::Serialize;

/// The kernel variants one compile uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KernelOptions {
    /// The GEMM of matmul, linear and convolution.
    pub gemm: GemmKernel,
    /// Row softmax and layer normalisation reduce with subgroup operations
    /// (norm_subgroup.wgsl, needs `wgpu::Features::SUBGROUP`); false: the workgroup-memory tree
    /// reduction of norm.wgsl.
    pub subgroups: bool,
    /// Elementwise ops compute four elements per invocation with vec4 loads and stores where
    /// the operands allow it (elementwise.wgsl `*4` entry points); false: one element each.
    pub vec4: bool,
}

impl KernelOptions {
    /// The adapter table's GEMM, subgroup reductions where the device has them (see
    /// [`Gpu::has_subgroups`]) and vec4 elementwise kernels.
    pub fn for_gpu(gpu: &Gpu) -> KernelOptions {
        KernelOptions {
            gemm: gpu.gemm_kernel(),
            subgroups: gpu.has_subgroups(),
            vec4: true,
        }
    }

    /// The plainest variants: scalar elementwise kernels and workgroup-memory reductions (what
    /// every kernel family ran before the subgroup and vec4 variants existed), with `gemm`.
    pub fn scalar(gemm: GemmKernel) -> KernelOptions {
        KernelOptions {
            gemm,
            subgroups: false,
            vec4: false,
        }
    }

    /// An error when these options ask for something `gpu` lacks (subgroups).
    pub fn check(&self, gpu: &Gpu) -> Result<(), RuntimeError> {
        if self.subgroups && !gpu.has_subgroups() {
            return Err(RuntimeError::DeviceRequest(format!(
                "subgroup reductions were asked for but the device was created without \
                 wgpu::Features::SUBGROUP (adapter {}, or {} is set)",
                gpu.summary().name,
                super::gpu::NO_SUBGROUPS_ENV
            )));
        }
        Ok(())
    }
}
