//! The GPU context: instance, adapter and device with the adapter's own limits, plus the few
//! device facts the executor and the measurements need.
//!
//! The storage binding limit can be lowered (never raised) with [`Gpu::with_max_binding`] or
//! the `TESSERA_MAX_BINDING` environment variable (a size such as `64KiB`): tests and scripts
//! use it to make tensors split over several bindings on small shapes, as gpt2-small's do at
//! lavapipe's real 128 MiB.
//!
//! F16 tensors are stored as WGSL `f16` when the adapter offers `SHADER_F16` (requested then),
//! else packed two to a `u32` word ([`FloatStorage`]); `TESSERA_F16_STORAGE=native|packed`
//! forces one, so tests run both on one adapter.

use super::RuntimeError;
use super::gemm::GemmKernel;
use super::shaders::FloatStorage;
use serde::Serialize;

/// The environment variable [`Gpu::new`] reads to lower `max_storage_buffer_binding_size`.
pub const MAX_BINDING_ENV: &str = "TESSERA_MAX_BINDING";

/// The environment variable that, set to anything, makes [`Gpu::new`] leave
/// `wgpu::Features::SUBGROUP` off, so row softmax and layer normalisation fall back to their
/// workgroup-memory reductions (to run and time that fallback on an adapter with subgroups).
pub const NO_SUBGROUPS_ENV: &str = "TESSERA_NO_SUBGROUPS";

/// The environment variable that forces how F16 tensors are stored: `native` (WGSL `f16`,
/// an error where the adapter lacks `SHADER_F16`) or `packed` (two halves per `u32`).
pub const F16_STORAGE_ENV: &str = "TESSERA_F16_STORAGE";

/// What adapter the runtime is using, for reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdapterSummary {
    /// Adapter name (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// Backend ("vulkan", "metal", "dx12", "gl").
    pub backend: String,
    /// Device type ("Cpu", "DiscreteGpu", ...).
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
}

/// A wgpu device and queue created with the adapter's limits.
#[derive(Debug)]
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    limits: wgpu::Limits,
    features: wgpu::Features,
    summary: AdapterSummary,
    gemm: GemmKernel,
    f16: FloatStorage,
}

impl Gpu {
    /// Opens the adapter chosen by `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` (or the default one) and
    /// creates a device with the adapter's limits and, when available, timestamp queries and
    /// subgroup operations (unless [`NO_SUBGROUPS_ENV`] is set); the
    /// storage binding limit is lowered to `TESSERA_MAX_BINDING` when that is set.
    pub fn new() -> Result<Gpu, RuntimeError> {
        let cap = match std::env::var(MAX_BINDING_ENV) {
            Ok(text) => Some(
                crate::bytes::parse_size(&text)
                    .map_err(|e| RuntimeError::DeviceRequest(format!("{MAX_BINDING_ENV}: {e}")))?,
            ),
            Err(_) => None,
        };
        pollster::block_on(Self::new_async(cap))
    }

    /// [`Gpu::new`] with `max_storage_buffer_binding_size` lowered to `max_binding` bytes
    /// (rounded down to a multiple of 4; the adapter's limit when that is lower).
    pub fn with_max_binding(max_binding: u64) -> Result<Gpu, RuntimeError> {
        pollster::block_on(Self::new_async(Some(max_binding)))
    }

    async fn new_async(max_binding: Option<u64>) -> Result<Gpu, RuntimeError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            // GL has no allocator report and probes window systems noisily; ask for it by name.
            desc.backends = wgpu::Backends::PRIMARY;
        }
        let instance = wgpu::Instance::new(desc);
        let adapter = Self::pick_adapter(&instance).await?;
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        if let Some(cap) = max_binding {
            if cap < 4 {
                return Err(RuntimeError::DeviceRequest(format!(
                    "a storage binding limit of {cap} bytes cannot hold one 32-bit element"
                )));
            }
            let cap = cap / 4 * 4;
            limits.max_storage_buffer_binding_size =
                limits.max_storage_buffer_binding_size.min(cap);
        }
        let mut wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SHADER_F16;
        if std::env::var_os(NO_SUBGROUPS_ENV).is_none() {
            wanted |= wgpu::Features::SUBGROUP;
        }
        let features = adapter.features() & wanted;
        let f16 = f16_storage(features.contains(wgpu::Features::SHADER_F16))?;
        let desc = wgpu::DeviceDescriptor {
            label: Some("tessera"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = adapter
            .request_device(&desc)
            .await
            .map_err(|e| RuntimeError::DeviceRequest(e.to_string()))?;
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: info.backend.to_string(),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
        };
        let gemm = GemmKernel::for_adapter(&summary);
        Ok(Gpu {
            device,
            queue,
            limits,
            features,
            summary,
            gemm,
            f16,
        })
    }

    async fn pick_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter, RuntimeError> {
        let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        if let Ok(wanted) = std::env::var("WGPU_ADAPTER_NAME") {
            let wanted = wanted.to_lowercase();
            let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
            return adapters
                .into_iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&wanted))
                .ok_or_else(|| {
                    RuntimeError::NoAdapter(format!(
                        "WGPU_ADAPTER_NAME={wanted:?} matches none of {names:?}"
                    ))
                });
        }
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env()
                .unwrap_or(wgpu::PowerPreference::HighPerformance),
            ..Default::default()
        };
        match instance.request_adapter(&options).await {
            Ok(a) => Ok(a),
            Err(e) => adapters
                .into_iter()
                .next()
                .ok_or_else(|| RuntimeError::NoAdapter(e.to_string())),
        }
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The limits the device was created with (the adapter's, the storage binding limit
    /// possibly lowered).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Adapter name, backend, type and driver.
    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    /// The GEMM kernel the adapter table picks for this adapter ([`GemmKernel::for_adapter`]).
    pub fn gemm_kernel(&self) -> GemmKernel {
        self.gemm
    }

    /// How this device stores F16 tensors: [`FloatStorage::F16`] with `SHADER_F16`, else
    /// [`FloatStorage::F16Packed`] (or what `TESSERA_F16_STORAGE` forces).
    pub fn f16_storage(&self) -> FloatStorage {
        self.f16
    }

    /// This device with F16 tensors stored as `storage` (tests run both variants on one
    /// adapter); `DeviceRequest` for [`FloatStorage::F16`] without `SHADER_F16` and for
    /// [`FloatStorage::F32`], which is not an f16 storage.
    pub fn with_f16_storage(mut self, storage: FloatStorage) -> Result<Gpu, RuntimeError> {
        let native = self.features.contains(wgpu::Features::SHADER_F16);
        match storage {
            FloatStorage::F16 if !native => Err(RuntimeError::DeviceRequest(
                "native f16 storage needs SHADER_F16, which the adapter does not offer".into(),
            )),
            FloatStorage::F32 => Err(RuntimeError::DeviceRequest(
                "f32 is not an f16 storage variant (native or packed)".into(),
            )),
            s => {
                self.f16 = s;
                Ok(self)
            }
        }
    }

    /// True when the device can write timestamps at pass boundaries.
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// True when the device was created with `wgpu::Features::SUBGROUP` (the adapter has it
    /// and [`NO_SUBGROUPS_ENV`] is not set): shaders may use subgroup operations.
    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    /// `(total_allocated_bytes, total_reserved_bytes)` from the device allocator, or `None` on
    /// backends that cannot tell (Metal, GL): never an invented number.
    pub fn allocator_bytes(&self) -> Option<(u64, u64)> {
        self.device
            .generate_allocator_report()
            .map(|r| (r.total_allocated_bytes, r.total_reserved_bytes))
    }

    /// Every storage binding offset must be a multiple of this.
    pub fn min_storage_buffer_offset_alignment(&self) -> u64 {
        u64::from(self.limits.min_storage_buffer_offset_alignment)
    }

    /// Largest storage binding in bytes.
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size
    }

    /// Largest buffer in bytes.
    pub fn max_buffer(&self) -> u64 {
        self.limits.max_buffer_size
    }

    /// Blocks until all submitted work has finished (and dropped resources are released).
    pub fn wait(&self) -> Result<(), RuntimeError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| RuntimeError::Readback(e.to_string()))
    }
}

/// The f16 storage variant for a device that has (`native`) or lacks `SHADER_F16`, unless
/// `TESSERA_F16_STORAGE` forces one.
fn f16_storage(native: bool) -> Result<FloatStorage, RuntimeError> {
    let forced = std::env::var(F16_STORAGE_ENV).ok();
    match forced.as_deref().map(str::trim) {
        None | Some("") => Ok(if native {
            FloatStorage::F16
        } else {
            FloatStorage::F16Packed
        }),
        Some("packed") => Ok(FloatStorage::F16Packed),
        Some("native") if native => Ok(FloatStorage::F16),
        Some("native") => Err(RuntimeError::DeviceRequest(format!(
            "{F16_STORAGE_ENV}=native, but the adapter does not offer SHADER_F16"
        ))),
        Some(other) => Err(RuntimeError::DeviceRequest(format!(
            "{F16_STORAGE_ENV}={other:?}: expected native or packed"
        ))),
    }
}
