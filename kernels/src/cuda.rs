//! The CUDA backend (feature `cuda`): cuBLAS GEMMs, NVRTC-compiled kernels for the other
//! operators, timed with CUDA events.
//!
//! cudarc loads the driver, cuBLAS and NVRTC when [`Gpu::open`] runs, so this builds everywhere and
//! fails with a message, never a panic, where the libraries or a device are missing. Each shape:
//! random inputs (never zero) generated on the device, copies of its buffers spanning twice the L2
//! cache so a run never finds the previous run's data there, warm-up, then the median of many
//! event-timed runs. Once per shape the first copy's inputs and output come back to the host and
//! are checked against the CPU backend's kernel (`cpu::execute`) on the same (rounded) inputs;
//! GEMMs too large for the host are checked on 256 sampled output elements.
//!
//! Buffers follow [`cpu::Layout`]: attention's Q, K and V are token-major, and a head's
//! `Q·Kᵀ` and `P·V` run as one batched cuBLAS call over (batch × heads) pointer arrays, which
//! covers grouped-query attention without copies.

use crate::cpu::{self, Layout};
use crate::error::KernelError;
use crate::ops::{Activation, DType, Op};
use crate::profile::{Stat, Timing};
use cudarc::cublas::sys as blas;
use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PushKernelArg,
};
use std::sync::Arc;
use std::time::Instant;

/// Timing for the GPU: more runs than on the CPU, as each is short and events are cheap.
pub fn full_timing() -> Timing {
    Timing { warmup_runs: 10, min_runs: 50, max_runs: 5000, min_seconds: 0.2, max_seconds: 2.0 }
}

pub fn quick_timing() -> Timing {
    Timing { warmup_runs: 5, min_runs: 20, max_runs: 1000, min_seconds: 0.05, max_seconds: 0.5 }
}

const KERNELS: &str = r#"
#if DT == 0
typedef float T;
__device__ __forceinline__ float ld(const T* p, long i) { return p[i]; }
__device__ __forceinline__ void st(T* p, long i, float v) { p[i] = v; }
#elif DT == 1
typedef unsigned short T;
__device__ __forceinline__ float ld(const T* p, long i) { float f; unsigned short h = p[i]; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ void st(T* p, long i, float v) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v)); p[i] = h; }
#else
typedef unsigned short T;
__device__ __forceinline__ float ld(const T* p, long i) { return __uint_as_float(((unsigned)p[i]) << 16); }
__device__ __forceinline__ void st(T* p, long i, float v) { unsigned u = __float_as_uint(v); u += 0x7fffu + ((u >> 16) & 1u); p[i] = (unsigned short)(u >> 16); }
#endif

#define GRID_STRIDE(i, n) for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

__device__ __forceinline__ unsigned mix(unsigned h) {
    h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16; return h;
}

// Magnitude in [0.5, 1.5) with a random sign: never zero.
extern "C" __global__ void fill(T* x, long n, unsigned seed) {
    GRID_STRIDE(i, n) {
        unsigned h = mix((unsigned)i * 2654435761u ^ mix((unsigned)(i >> 32) ^ seed));
        float magnitude = 0.5f + (float)(h >> 8) * (1.0f / 16777216.0f);
        st(x, i, (h & 1u) ? magnitude : -magnitude);
    }
}

extern "C" __global__ void fill_indices(unsigned* x, long n, unsigned rows, unsigned seed) {
    GRID_STRIDE(i, n) { x[i] = mix((unsigned)i * 2654435761u ^ seed) % rows; }
}

extern "C" __global__ void add(const T* a, const T* b, T* y, long n) { GRID_STRIDE(i, n) st(y, i, ld(a, i) + ld(b, i)); }
extern "C" __global__ void mul(const T* a, const T* b, T* y, long n) { GRID_STRIDE(i, n) st(y, i, ld(a, i) * ld(b, i)); }

extern "C" __global__ void activation(const T* x, T* y, long n, int kind) {
    GRID_STRIDE(i, n) {
        float v = ld(x, i), r;
        switch (kind) {
            case 0: r = fmaxf(v, 0.0f); break;
            case 1: r = 0.5f * v * (1.0f + tanhf(0.7978846f * (v + 0.044715f * v * v * v))); break;
            case 2: r = v / (1.0f + __expf(-v)); break;
            case 3: r = tanhf(v); break;
            default: r = 1.0f / (1.0f + __expf(-v)); break;
        }
        st(y, i, r);
    }
}

__device__ float block_reduce(float v, float* shared, bool take_max) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float o = shared[threadIdx.x + s];
            shared[threadIdx.x] = take_max ? fmaxf(shared[threadIdx.x], o) : shared[threadIdx.x] + o;
        }
        __syncthreads();
    }
    float r = shared[0];
    __syncthreads();
    return r;
}

// One block per row. With queries > 0 the rows are attention scores, causal: query i of a head
// sees keys 0 ..= i + (cols - queries).
extern "C" __global__ void softmax(const T* x, T* y, long cols, float scale, long queries) {
    __shared__ float shared[256];
    long row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    long visible = cols;
    if (queries > 0) { long i = row % queries; visible = min(cols, i + 1 + (cols - queries)); }
    float m = -__int_as_float(0x7f800000);
    for (long j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, ld(xr, j) * scale);
    m = block_reduce(m, shared, true);
    float s = 0.0f;
    for (long j = threadIdx.x; j < visible; j += blockDim.x) s += __expf(ld(xr, j) * scale - m);
    s = block_reduce(s, shared, false);
    for (long j = threadIdx.x; j < cols; j += blockDim.x) st(yr, j, j < visible ? __expf(ld(xr, j) * scale - m) / s : 0.0f);
}

// One block per row; rms = 1 uses a scale only.
extern "C" __global__ void norm(const T* x, const T* params, T* y, long cols, int rms) {
    __shared__ float shared[256];
    long row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    float mean = 0.0f;
    if (!rms) {
        float s = 0.0f;
        for (long j = threadIdx.x; j < cols; j += blockDim.x) s += ld(xr, j);
        mean = block_reduce(s, shared, false) / cols;
    }
    float q = 0.0f;
    for (long j = threadIdx.x; j < cols; j += blockDim.x) { float d = ld(xr, j) - mean; q += d * d; }
    float inverse = rsqrtf(block_reduce(q, shared, false) / cols + (rms ? 1e-6f : 1e-12f));
    for (long j = threadIdx.x; j < cols; j += blockDim.x) {
        float v = (ld(xr, j) - mean) * inverse * ld(params, j);
        st(yr, j, rms ? v : v + ld(params, cols + j));
    }
}

extern "C" __global__ void gather(const T* table, const unsigned* indices, T* y, long lookups, long dim) {
    GRID_STRIDE(i, lookups * dim) st(y, i, ld(table, (long)indices[i / dim] * dim + i % dim));
}

extern "C" __global__ void bag(const T* table, const unsigned* indices, T* y, long bags, long bag_size, long dim) {
    GRID_STRIDE(i, bags * dim) {
        long b = i / dim, c = i % dim;
        float s = 0.0f;
        for (long j = 0; j < bag_size; j++) s += ld(table, (long)indices[b * bag_size + j] * dim + c);
        st(y, i, s);
    }
}
"#;

fn err(e: impl std::fmt::Debug) -> KernelError {
    KernelError::Backend(format!("{e:?}"))
}

fn backend(message: impl Into<String>) -> KernelError {
    KernelError::Backend(message.into())
}

/// One GPU, its stream, cuBLAS and the compiled kernels per dtype.
pub struct Gpu {
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: blas::cublasHandle_t,
    modules: Vec<(DType, Arc<CudaModule>)>,
    name: String,
    l2_bytes: u64,
    checked: usize,
    unchecked: usize,
}

impl Drop for Gpu {
    fn drop(&mut self) {
        // SAFETY: the handle was created in `open` and is destroyed once, here.
        unsafe {
            blas::cublasDestroy_v2(self.blas);
        }
    }
}

fn blas_ok(status: blas::cublasStatus_t, what: &str) -> Result<(), KernelError> {
    if status == blas::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(backend(format!("cuBLAS {what} failed: {status:?}")))
    }
}

/// One column-major batched GEMM over device arrays of matrix pointers (cuBLAS
/// `GemmBatchedEx`): for each of `count` matrices, C = op(A)·B with op = transpose when
/// `transpose_a`; `(m, n, k)` as cuBLAS names them, each operand as (pointer array, leading
/// dimension). Accumulates in fp32, C is overwritten (α = 1, β = 0).
struct BatchedGemm {
    transpose_a: bool,
    mnk: (i32, i32, i32),
    a: (u64, i32),
    b: (u64, i32),
    c: (u64, i32),
    count: i32,
}

/// An operator's buffers on the device: `copies` sets, one element type.
struct Buffers {
    sets: Vec<Set>,
    params: CudaSlice<u8>,
    scratch: CudaSlice<u8>,
}

struct Set {
    activations: CudaSlice<u8>,
    weights: CudaSlice<u8>,
    indices: CudaSlice<u32>,
    output: CudaSlice<u8>,
    /// Attention: device arrays of per-(batch, head) pointers for the two batched GEMMs.
    pointers: Option<CudaSlice<u64>>,
}

impl Gpu {
    /// Loads the driver, cuBLAS and NVRTC and opens device 0.
    pub fn open() -> Result<Gpu, KernelError> {
        // SAFETY: these only try to dlopen the libraries.
        let present = unsafe {
            (
                cudarc::driver::sys::is_culib_present(),
                cudarc::cublas::sys::is_culib_present(),
                cudarc::nvrtc::sys::is_culib_present(),
            )
        };
        match present {
            (false, _, _) => return Err(backend("no NVIDIA driver found (libcuda.so is not loadable): is this a GPU machine?")),
            (_, false, _) => return Err(backend("the driver is present but cuBLAS (libcublas.so) is not loadable; install the CUDA toolkit libraries or set LD_LIBRARY_PATH")),
            (_, _, false) => return Err(backend("the driver is present but NVRTC (libnvrtc.so) is not loadable; install the CUDA toolkit libraries or set LD_LIBRARY_PATH")),
            _ => {}
        }
        let count =
            CudaContext::device_count().map_err(|e| backend(format!("the driver reports no usable device: {e:?}")))?;
        if count < 1 {
            return Err(backend("the driver found no CUDA device"));
        }
        let context = CudaContext::new(0).map_err(err)?;
        let stream = context.default_stream();
        let mut handle: blas::cublasHandle_t = std::ptr::null_mut();
        // SAFETY: plain cuBLAS handle creation and binding to our stream.
        unsafe {
            blas_ok(blas::cublasCreate_v2(&mut handle), "create")?;
            blas_ok(blas::cublasSetStream_v2(handle, stream.cu_stream() as _), "set stream")?;
        }
        let mut modules = Vec::new();
        for (dtype, code) in [(DType::F32, 0), (DType::F16, 1), (DType::BF16, 2)] {
            let source = format!("#define DT {code}\n{KERNELS}");
            let ptx = cudarc::nvrtc::compile_ptx(source)
                .map_err(|e| backend(format!("NVRTC could not compile the kernels: {e:?}")))?;
            modules.push((dtype, context.load_module(ptx).map_err(err)?));
        }
        let name = context.name().map_err(err)?;
        let l2_bytes = context.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE).map_err(err)? as u64;
        Ok(Gpu { context, stream, blas: handle, modules, name, l2_bytes, checked: 0, unchecked: 0 })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn provenance(&self) -> Vec<(String, String)> {
        let attribute = |a| self.context.attribute(a).map_or("not readable".to_string(), |v| v.to_string());
        let mut driver = 0;
        let (mut nvrtc_major, mut nvrtc_minor, mut cublas) = (0, 0, 0);
        // SAFETY: version queries writing into locals.
        unsafe {
            cudarc::driver::sys::cuDriverGetVersion(&mut driver);
            cudarc::nvrtc::sys::nvrtcVersion(&mut nvrtc_major, &mut nvrtc_minor);
            blas::cublasGetVersion_v2(self.blas, &mut cublas);
        }
        let (major, minor) = self.context.compute_capability().unwrap_or((0, 0));
        vec![
            ("device".into(), self.name.clone()),
            ("backend".into(), "cuda".into()),
            ("compute_capability".into(), format!("{major}.{minor}")),
            ("driver".into(), format!("CUDA driver API {}.{}", driver / 1000, (driver % 1000) / 10)),
            ("runtime".into(), format!("NVRTC {nvrtc_major}.{nvrtc_minor}; cuBLAS {cublas}")),
            (
                "clocks".into(),
                format!(
                    "SM max {} kHz, memory max {} kHz (device attributes)",
                    attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_CLOCK_RATE),
                    attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)
                ),
            ),
            (
                "caches".into(),
                format!(
                    "L2 {} KiB; every buffer rotates over at least {} KiB",
                    self.l2_bytes / 1024,
                    2 * self.l2_bytes / 1024
                ),
            ),
            ("memory".into(), format!("{} MiB", self.context.total_mem().unwrap_or(0) >> 20)),
            (
                "kernels".into(),
                "cuBLAS GemmEx / GemmBatchedEx / GemmStridedBatchedEx (fp32 accumulate); NVRTC kernels for the rest"
                    .into(),
            ),
        ]
    }

    /// Shapes checked against the CPU reference so far, and shapes too large to check.
    pub fn checks(&self) -> (usize, usize) {
        (self.checked, self.unchecked)
    }

    fn function(&self, dtype: DType, name: &str) -> Result<CudaFunction, KernelError> {
        let module = &self.modules.iter().find(|(d, _)| *d == dtype).expect("every dtype compiled").1;
        module.load_function(name).map_err(err)
    }

    fn grid(n: u64) -> LaunchConfig {
        let blocks = n.div_ceil(256).clamp(1, 65_535 * 16) as u32;
        LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
    }

    fn alloc(&self, elements: u64, dtype: DType, seed: u32) -> Result<CudaSlice<u8>, KernelError> {
        let bytes = (elements.max(1) * dtype.bytes()) as usize;
        // SAFETY: filled below before any read.
        let mut slice = unsafe { self.stream.alloc::<u8>(bytes) }.map_err(err)?;
        let fill = self.function(dtype, "fill")?;
        let n = elements.max(1) as i64;
        let mut launch = self.stream.launch_builder(&fill);
        launch.arg(&mut slice).arg(&n).arg(&seed);
        // SAFETY: `fill` writes `n` elements of the dtype into a buffer of that many.
        unsafe { launch.launch(Self::grid(n as u64)) }.map_err(err)?;
        Ok(slice)
    }

    fn prepare(&self, op: &Op) -> Result<Buffers, KernelError> {
        let dtype = op.dtype();
        let layout = Layout::of(op);
        let per_set = (layout.activations + layout.weights + layout.output) * dtype.bytes() + 4 * layout.indices;
        let (free, _) = self.context.mem_get_info().map_err(err)?;
        let scratch = match *op {
            Op::AttentionPrefill { batch, heads, seq, .. } => batch * heads * seq * seq,
            Op::AttentionDecode { batch, heads, kv_len, .. } => batch * heads * kv_len,
            _ => 0,
        };
        let fixed = (layout.params + scratch) * dtype.bytes();
        let budget = (free as u64) / 2;
        if per_set + fixed > budget {
            return Err(backend(format!(
                "needs {:.1} GB of device memory, over half of the {:.1} GB free",
                (per_set + fixed) as f64 / 1e9,
                free as f64 / 1e9
            )));
        }
        let wanted = (2 * self.l2_bytes).div_ceil(per_set.max(1)).clamp(1, 64);
        let copies = wanted.min((budget - fixed) / per_set.max(1)).max(1);
        let mut sets = Vec::with_capacity(copies as usize);
        let rows = Layout::table_rows(op) as u32;
        for copy in 0..copies as u32 {
            let seed = 0x5eed_0000 + 16 * copy;
            let activations = self.alloc(layout.activations, dtype, seed)?;
            let weights = self.alloc(layout.weights, dtype, seed + 1)?;
            let output = self.alloc(layout.output, dtype, seed + 2)?;
            // SAFETY: filled below.
            let mut indices = unsafe { self.stream.alloc::<u32>(layout.indices.max(1) as usize) }.map_err(err)?;
            let fill = self.function(dtype, "fill_indices")?;
            let n = layout.indices.max(1) as i64;
            let index_seed = seed + 3;
            let mut launch = self.stream.launch_builder(&fill);
            launch.arg(&mut indices).arg(&n).arg(&rows).arg(&index_seed);
            // SAFETY: writes `n` u32 into a buffer of `n`.
            unsafe { launch.launch(Self::grid(n as u64)) }.map_err(err)?;
            sets.push(Set { activations, weights, indices, output, pointers: None });
        }
        let params = self.alloc(layout.params, dtype, 0x7a61)?;
        let scratch = self.alloc(scratch, dtype, 0x5c7a)?;
        let mut buffers = Buffers { sets, params, scratch };
        for i in 0..buffers.sets.len() {
            let pointers = self.attention_pointers(op, &buffers.sets[i], &buffers.scratch)?;
            buffers.sets[i].pointers = pointers;
        }
        self.stream.synchronize().map_err(err)?;
        Ok(buffers)
    }

    /// For attention: six arrays of (batch × heads) device pointers, back to back — K, Q, S for
    /// the scores, then V, S, O for the output.
    fn attention_pointers(
        &self,
        op: &Op,
        set: &Set,
        scratch: &CudaSlice<u8>,
    ) -> Result<Option<CudaSlice<u64>>, KernelError> {
        let (batch, heads, kv_heads, queries, keys, d) = match *op {
            Op::AttentionPrefill { batch, heads, kv_heads, seq, head_dim, .. } => {
                (batch, heads, kv_heads, seq, seq, head_dim)
            }
            Op::AttentionDecode { batch, heads, kv_heads, kv_len, head_dim, .. } => {
                (batch, heads, kv_heads, 1, kv_len, head_dim)
            }
            _ => return Ok(None),
        };
        let b = op.dtype().bytes();
        let (act, _g1) = set.activations.device_ptr(&self.stream);
        let (out, _g2) = set.output.device_ptr(&self.stream);
        let (scores, _g3) = scratch.device_ptr(&self.stream);
        let q0 = act;
        let k0 = q0 + batch * queries * heads * d * b;
        let v0 = k0 + batch * keys * kv_heads * d * b;
        let group = heads / kv_heads;
        let count = (batch * heads) as usize;
        let mut arrays = vec![0u64; 6 * count];
        for bi in 0..batch {
            for h in 0..heads {
                let i = (bi * heads + h) as usize;
                let kv = h / group;
                let q = q0 + (bi * queries * heads + h) * d * b;
                let k = k0 + (bi * keys * kv_heads + kv) * d * b;
                let v = v0 + (bi * keys * kv_heads + kv) * d * b;
                let s = scores + (bi * heads + h) * queries * keys * b;
                let o = out + (bi * queries * heads + h) * d * b;
                for (j, pointer) in [k, q, s, v, s, o].into_iter().enumerate() {
                    arrays[j * count + i] = pointer;
                }
            }
        }
        Ok(Some(self.stream.clone_htod(&arrays).map_err(err)?))
    }

    /// Enqueues one run of `op` on copy `copy`.
    fn launch(&self, op: &Op, buffers: &mut Buffers, copy: usize) -> Result<(), KernelError> {
        let dtype = op.dtype();
        let data_type = match dtype {
            DType::F32 => blas::cudaDataType::CUDA_R_32F,
            DType::F16 => blas::cudaDataType::CUDA_R_16F,
            DType::BF16 => blas::cudaDataType::CUDA_R_16BF,
        };
        let compute = blas::cublasComputeType_t::CUBLAS_COMPUTE_32F;
        let algo = blas::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT;
        let (one, zero) = (1.0f32, 0.0f32);
        let alpha = &one as *const f32 as *const std::ffi::c_void;
        let beta = &zero as *const f32 as *const std::ffi::c_void;
        let b = dtype.bytes();
        let stream = &self.stream;
        let Buffers { sets, params, scratch } = buffers;
        let set = &mut sets[copy];
        let int = |x: u64| i32::try_from(x).map_err(|_| backend(format!("dimension {x} is too large for cuBLAS")));
        let long = |x: u64| x as i64;
        match *op {
            Op::Gemm { m, n, k, .. } => {
                let (a, _g1) = set.activations.device_ptr(stream);
                let (w, _g2) = set.weights.device_ptr(stream);
                let (c, _g3) = set.output.device_ptr(stream);
                // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ.
                // SAFETY: pointers into live buffers sized by `Layout`.
                let status = unsafe {
                    blas::cublasGemmEx(
                        self.blas,
                        blas::cublasOperation_t::CUBLAS_OP_N,
                        blas::cublasOperation_t::CUBLAS_OP_N,
                        int(n)?,
                        int(m)?,
                        int(k)?,
                        alpha,
                        w as _,
                        data_type,
                        int(n)?,
                        a as _,
                        data_type,
                        int(k)?,
                        beta,
                        c as _,
                        data_type,
                        int(n)?,
                        compute,
                        algo,
                    )
                };
                blas_ok(status, "GemmEx")
            }
            Op::BatchedGemm { batch, m, n, k, .. } => {
                let (a, _g1) = set.activations.device_ptr(stream);
                let (c, _g2) = set.output.device_ptr(stream);
                let w = a + batch * m * k * b;
                // SAFETY: as above, strided over `batch` matrices.
                let status = unsafe {
                    blas::cublasGemmStridedBatchedEx(
                        self.blas,
                        blas::cublasOperation_t::CUBLAS_OP_N,
                        blas::cublasOperation_t::CUBLAS_OP_N,
                        int(n)?,
                        int(m)?,
                        int(k)?,
                        alpha,
                        w as _,
                        data_type,
                        int(n)?,
                        long(k * n),
                        a as _,
                        data_type,
                        int(k)?,
                        long(m * k),
                        beta,
                        c as _,
                        data_type,
                        int(n)?,
                        long(m * n),
                        int(batch)?,
                        compute,
                        algo,
                    )
                };
                blas_ok(status, "GemmStridedBatchedEx")
            }
            Op::AttentionPrefill { batch, heads, kv_heads, head_dim: d, .. }
            | Op::AttentionDecode { batch, heads, kv_heads, head_dim: d, .. } => {
                let (queries, keys, causal) = match *op {
                    Op::AttentionPrefill { seq, causal, .. } => (seq, seq, causal),
                    Op::AttentionDecode { kv_len, .. } => (1, kv_len, false),
                    _ => unreachable!(),
                };
                let count = batch * heads;
                let pointers = set.pointers.as_ref().expect("attention sets have pointer arrays");
                let (base, _g) = pointers.device_ptr(stream);
                let array = |j: u64| base + j * count * 8;
                // Scores (column-major keys × queries per head) = Kᵀ·Q, then softmax, then O = V·P.
                let scores = BatchedGemm {
                    transpose_a: true,
                    mnk: (int(keys)?, int(queries)?, int(d)?),
                    a: (array(0), int(kv_heads * d)?),
                    b: (array(1), int(heads * d)?),
                    c: (array(2), int(keys)?),
                    count: int(count)?,
                };
                self.gemm_batched(&scores, data_type, "GemmBatchedEx (scores)")?;
                let softmax = self.function(dtype, "softmax")?;
                let rows = count * queries;
                let (cols, scale, causal_queries) =
                    (long(keys), 1.0f32 / (d as f32).sqrt(), if causal { long(queries) } else { 0 });
                let (scores, _g) = scratch.device_ptr(stream);
                let mut launch = stream.launch_builder(&softmax);
                launch.arg(&scores).arg(&scores).arg(&cols).arg(&scale).arg(&causal_queries);
                let config =
                    LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
                // SAFETY: in place over `rows` rows of `cols`.
                unsafe { launch.launch(config) }.map_err(err)?;
                let output = BatchedGemm {
                    transpose_a: false,
                    mnk: (int(d)?, int(queries)?, int(keys)?),
                    a: (array(3), int(kv_heads * d)?),
                    b: (array(4), int(keys)?),
                    c: (array(5), int(heads * d)?),
                    count: int(count)?,
                };
                self.gemm_batched(&output, data_type, "GemmBatchedEx (output)")
            }
            Op::Softmax { rows, cols, .. } => {
                let f = self.function(dtype, "softmax")?;
                let (cols, scale, queries) = (long(cols), 1.0f32, 0i64);
                let mut launch = stream.launch_builder(&f);
                launch.arg(&set.activations).arg(&mut set.output).arg(&cols).arg(&scale).arg(&queries);
                let config =
                    LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
                // SAFETY: `rows` rows of `cols` in and out.
                unsafe { launch.launch(config) }.map(|_| ()).map_err(err)
            }
            Op::LayerNorm { rows, cols, .. } | Op::RmsNorm { rows, cols, .. } => {
                let f = self.function(dtype, "norm")?;
                let (cols, rms) = (long(cols), i32::from(matches!(op, Op::RmsNorm { .. })));
                let mut launch = stream.launch_builder(&f);
                launch.arg(&set.activations).arg(&*params).arg(&mut set.output).arg(&cols).arg(&rms);
                let config =
                    LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
                // SAFETY: `rows` rows of `cols`; params hold the scale (and shift).
                unsafe { launch.launch(config) }.map(|_| ()).map_err(err)
            }
            Op::Activation { kind, elements, .. } => {
                let f = self.function(dtype, "activation")?;
                let kind = match kind {
                    Activation::Relu => 0i32,
                    Activation::Gelu => 1,
                    Activation::Silu => 2,
                    Activation::Tanh => 3,
                    Activation::Sigmoid => 4,
                };
                let n = long(elements);
                let mut launch = stream.launch_builder(&f);
                launch.arg(&set.activations).arg(&mut set.output).arg(&n).arg(&kind);
                // SAFETY: `n` elements in and out.
                unsafe { launch.launch(Self::grid(elements)) }.map(|_| ()).map_err(err)
            }
            Op::Add { elements, .. } | Op::Mul { elements, .. } => {
                let f = self.function(dtype, if matches!(op, Op::Add { .. }) { "add" } else { "mul" })?;
                let n = long(elements);
                let (a, _g1) = set.activations.device_ptr(stream);
                let second = a + elements * b;
                let mut launch = stream.launch_builder(&f);
                launch.arg(&a).arg(&second).arg(&mut set.output).arg(&n);
                // SAFETY: both operands lie back to back in the activations buffer.
                unsafe { launch.launch(Self::grid(elements)) }.map(|_| ()).map_err(err)
            }
            Op::EmbeddingGather { lookups, dim, .. } => {
                let f = self.function(dtype, "gather")?;
                let (lookups, dim) = (long(lookups), long(dim));
                let mut launch = stream.launch_builder(&f);
                launch.arg(&*params).arg(&set.indices).arg(&mut set.output).arg(&lookups).arg(&dim);
                // SAFETY: indices are below the table's rows (fill_indices).
                unsafe { launch.launch(Self::grid((lookups * dim) as u64)) }.map(|_| ()).map_err(err)
            }
            Op::EmbeddingBag { bags, bag_size, dim, .. } => {
                let f = self.function(dtype, "bag")?;
                let (bags, bag_size, dim) = (long(bags), long(bag_size), long(dim));
                let mut launch = stream.launch_builder(&f);
                launch.arg(&*params).arg(&set.indices).arg(&mut set.output).arg(&bags).arg(&bag_size).arg(&dim);
                // SAFETY: as for gather.
                unsafe { launch.launch(Self::grid((bags * dim) as u64)) }.map(|_| ()).map_err(err)
            }
        }
    }

    fn gemm_batched(&self, g: &BatchedGemm, data_type: blas::cudaDataType, what: &str) -> Result<(), KernelError> {
        let (one, zero) = (1.0f32, 0.0f32);
        let transpose =
            if g.transpose_a { blas::cublasOperation_t::CUBLAS_OP_T } else { blas::cublasOperation_t::CUBLAS_OP_N };
        let (m, n, k) = g.mnk;
        // SAFETY: the pointer arrays name `count` matrices inside live buffers, each of the shape
        // and leading dimension given (`Layout` sizes them).
        let status = unsafe {
            blas::cublasGemmBatchedEx(
                self.blas,
                transpose,
                blas::cublasOperation_t::CUBLAS_OP_N,
                m,
                n,
                k,
                &one as *const f32 as *const std::ffi::c_void,
                g.a.0 as _,
                data_type,
                g.a.1,
                g.b.0 as _,
                data_type,
                g.b.1,
                &zero as *const f32 as *const std::ffi::c_void,
                g.c.0 as _,
                data_type,
                g.c.1,
                g.count,
                blas::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                blas::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        };
        blas_ok(status, what)
    }

    /// Measures one operator and checks its first run against the CPU reference.
    pub fn measure(&mut self, op: &Op, timing: &Timing) -> Result<Stat, KernelError> {
        let mut buffers = self.prepare(op)?;
        let copies = buffers.sets.len();
        self.launch(op, &mut buffers, 0)?;
        self.stream.synchronize().map_err(err)?;
        self.check(op, &buffers)?;
        for i in 0..timing.warmup_runs as usize {
            self.launch(op, &mut buffers, i % copies)?;
        }
        const ROUND: usize = 10;
        let flags = Some(CUevent_flags::CU_EVENT_DEFAULT);
        let events: Vec<(CudaEvent, CudaEvent)> = (0..ROUND)
            .map(|_| Ok((self.context.new_event(flags)?, self.context.new_event(flags)?)))
            .collect::<Result<_, cudarc::driver::DriverError>>()
            .map_err(err)?;
        let mut samples = Vec::new();
        let started = Instant::now();
        let mut run = timing.warmup_runs as usize;
        while !timing.done(samples.len(), started.elapsed().as_secs_f64()) {
            for (start, end) in &events {
                start.record(&self.stream).map_err(err)?;
                self.launch(op, &mut buffers, run % copies)?;
                end.record(&self.stream).map_err(err)?;
                run += 1;
            }
            self.stream.synchronize().map_err(err)?;
            for (start, end) in &events {
                samples.push(f64::from(start.elapsed_ms(end).map_err(err)?) * 1e6);
            }
        }
        Ok(Stat::from_samples(&mut samples))
    }

    fn to_host(&self, slice: &CudaSlice<u8>, elements: u64, dtype: DType) -> Result<Vec<f32>, KernelError> {
        let bytes = self.stream.clone_dtoh(slice).map_err(err)?;
        let n = elements as usize;
        Ok(match dtype {
            DType::F32 => bytes.chunks_exact(4).take(n).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            DType::F16 => {
                bytes.chunks_exact(2).take(n).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            DType::BF16 => {
                bytes.chunks_exact(2).take(n).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
        })
    }

    /// Compares copy 0's output with the CPU kernel on the same inputs.
    fn check(&mut self, op: &Op, buffers: &Buffers) -> Result<(), KernelError> {
        let dtype = op.dtype();
        let layout = Layout::of(op);
        let set = &buffers.sets[0];
        let full = op.flops() <= 2_000_000_000 && layout.output <= 50_000_000;
        let sampled_gemm = matches!(op, Op::Gemm { .. });
        if !full && !sampled_gemm {
            self.unchecked += 1;
            return Ok(());
        }
        let input = self.to_host(&set.activations, layout.activations, dtype)?;
        let weights = self.to_host(&set.weights, layout.weights, dtype)?;
        let params = self.to_host(&buffers.params, layout.params, dtype)?;
        let indices = self.stream.clone_dtoh(&set.indices).map_err(err)?;
        let indices = &indices[..layout.indices as usize];
        let got = self.to_host(&set.output, layout.output, dtype)?;
        let (expected, positions): (Vec<f32>, Vec<usize>) = if full {
            let mut out = vec![0.0f32; layout.output as usize];
            let mut scratch = vec![0.0f32; layout.scratch as usize];
            cpu::execute(op, &input, &weights, &params, indices, &mut out, &mut scratch);
            let positions = (0..out.len()).collect();
            (out, positions)
        } else {
            let Op::Gemm { m, n, k, .. } = *op else { unreachable!() };
            let (m, n, k) = (m as usize, n as usize, k as usize);
            let positions: Vec<usize> = (0..256u64).map(|i| ((i * 2_654_435_761) % (m * n) as u64) as usize).collect();
            let values = positions
                .iter()
                .map(|&p| {
                    let (row, column) = (p / n, p % n);
                    (0..k).map(|l| f64::from(input[row * k + l]) * f64::from(weights[l * n + column])).sum::<f64>()
                        as f32
                })
                .collect();
            (values, positions)
        };
        let rms = (expected.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / expected.len().max(1) as f64).sqrt();
        let tolerance = match dtype {
            DType::F32 => 2e-3,
            DType::F16 => 1e-2,
            DType::BF16 => 3e-2,
        };
        for (e, &p) in expected.iter().zip(&positions) {
            let g = got[p];
            let bound = tolerance * (f64::from(e.abs()) + 0.05 * rms) + 1e-6;
            if g.is_nan() || f64::from((g - e).abs()) > bound {
                return Err(backend(format!("result check failed at element {p}: GPU {g}, CPU reference {e}")));
            }
        }
        self.checked += 1;
        Ok(())
    }

    /// Per forward call: inputs to the device, outputs back, and a synchronisation (4 KiB each way).
    pub fn measure_batch_overhead(&self, timing: &Timing) -> Result<Stat, KernelError> {
        let host = vec![1u8; 4096];
        let mut device = self.stream.clone_htod(&host).map_err(err)?;
        let mut samples = Vec::new();
        let started = Instant::now();
        while !timing.done(samples.len(), started.elapsed().as_secs_f64()) {
            let t = Instant::now();
            self.stream.memcpy_htod(&host, &mut device).map_err(err)?;
            let back = self.stream.clone_dtoh(&device).map_err(err)?;
            self.stream.synchronize().map_err(err)?;
            samples.push(t.elapsed().as_nanos() as f64);
            std::hint::black_box(back);
        }
        Ok(Stat::from_samples(&mut samples))
    }
}
