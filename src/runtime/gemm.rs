//! Which GEMM kernel family runs on which adapter. matmul.wgsl's entry points share one params
//! block: `matmul` stages 64 x 64 block tiles in workgroup memory (what GPUs want); `matmul_reg`
//! and, where the operands align to vec4s, `matmul_reg4` block in registers only, with no
//! workgroup memory and no barrier (what CPU adapters want: lavapipe runs the invocations of a
//! workgroup as SIMD lanes of one thread, every load as a loop over those lanes and each barrier
//! as a coroutine switch, while its caches already do the staging). The choice is a small table
//! keyed by the adapter's device type and name, [`GemmKernel::for_adapter`]; `tessera bench`
//! measures both families side by side so the table can be checked on any adapter.

use super::gpu::AdapterSummary;
use super::shaders::{GEMM_TM, Kernel, REG_TILE, REG4_ROWS, REG4_TILE, TILE};
use serde::Serialize;

/// One of the GEMM entry points of matmul.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GemmKernel {
    /// `matmul`: block tiles of `TILE * GEMM_TM` staged in workgroup memory.
    Tiled,
    /// `matmul_reg4` where a and b read as vec4s, else `matmul_reg`: register blocking only.
    Register,
}

/// One row of the adapter table: adapters of `device_type` whose lower-cased name contains
/// `name_contains` (empty: any) use `kernel`.
struct Rule {
    device_type: &'static str,
    name_contains: &'static str,
    kernel: GemmKernel,
}

/// The adapter table, first match wins; adapters no rule names get [`GemmKernel::Tiled`].
/// CPU adapters (lavapipe/llvmpipe, SwiftShader, WARP) take the register family: on lavapipe it
/// measured 1.5x to 100x faster than the workgroup-memory kernel at every shape `tessera bench`
/// runs (BENCHMARKS.md section 15).
const TABLE: &[Rule] = &[Rule {
    device_type: "Cpu",
    name_contains: "",
    kernel: GemmKernel::Register,
}];

impl GemmKernel {
    /// Both kernels.
    pub const ALL: [GemmKernel; 2] = [GemmKernel::Tiled, GemmKernel::Register];

    /// The kernel the table picks for `adapter`.
    pub fn for_adapter(adapter: &AdapterSummary) -> GemmKernel {
        let name = adapter.name.to_lowercase();
        TABLE
            .iter()
            .find(|r| r.device_type == adapter.device_type && name.contains(r.name_contains))
            .map_or(GemmKernel::Tiled, |r| r.kernel)
    }

    /// The compute entry point for a GEMM whose operands are (`vec4_ok`) or are not readable
    /// as vec4s, and the rows and columns of the block of C one of its workgroups computes.
    /// The register family reads vec4s where it can (`matmul_reg4`); the tiled kernel reads
    /// its staged tiles as vec4s whatever the operands.
    pub fn entry(self, vec4_ok: bool) -> (Kernel, [u32; 2]) {
        match self {
            GemmKernel::Tiled => (Kernel::MatMul, [TILE * GEMM_TM; 2]),
            GemmKernel::Register if vec4_ok => {
                (Kernel::MatMulReg4, [REG4_TILE * REG4_ROWS, REG4_TILE * 8])
            }
            GemmKernel::Register => (Kernel::MatMulReg, [REG_TILE * GEMM_TM; 2]),
        }
    }

    /// Lower-case name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            GemmKernel::Tiled => "tiled",
            GemmKernel::Register => "register",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, device_type: &str) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            backend: "vulkan".into(),
            device_type: device_type.into(),
            driver: String::new(),
        }
    }

    #[test]
    fn cpu_adapters_get_the_register_kernel_and_gpus_the_tiled_one() {
        let lavapipe = adapter("llvmpipe (LLVM 15.0.6, 256 bits)", "Cpu");
        assert_eq!(GemmKernel::for_adapter(&lavapipe), GemmKernel::Register);
        let gpu = adapter("NVIDIA H200", "DiscreteGpu");
        assert_eq!(GemmKernel::for_adapter(&gpu), GemmKernel::Tiled);
        assert_eq!(
            GemmKernel::for_adapter(&adapter("Apple M2", "IntegratedGpu")),
            GemmKernel::Tiled
        );
        assert_eq!(GemmKernel::Tiled.entry(true), (Kernel::MatMul, [64, 64]));
        assert_eq!(GemmKernel::Tiled.entry(false), (Kernel::MatMul, [64, 64]));
        assert_eq!(
            GemmKernel::Register.entry(true),
            (Kernel::MatMulReg4, [64, 64])
        );
        assert_eq!(
            GemmKernel::Register.entry(false),
            (Kernel::MatMulReg, [32, 32])
        );
    }
}
