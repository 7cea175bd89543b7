#include "cuda_driver.h"
#include <dlfcn.h>
#include <stdio.h>

#define SYM(field, name)                                                   \
  do {                                                                     \
    *(void **)&api->field = dlsym(lib, name);                              \
    if (!api->field) {                                                     \
      snprintf(why, why_len, "libcuda.so.1 lacks %s", name);               \
      return -1;                                                           \
    }                                                                      \
  } while (0)

int cuda_open(cuda_api *api, CUcontext *ctx, char *name, size_t name_len, char *why, size_t why_len) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(why, why_len, "no NVIDIA driver: libcuda.so.1 cannot be loaded (%s)", dlerror());
    return -1;
  }
  SYM(cuInit, "cuInit");
  SYM(cuDeviceGetCount, "cuDeviceGetCount");
  SYM(cuDeviceGet, "cuDeviceGet");
  SYM(cuDeviceGetName, "cuDeviceGetName");
  SYM(cuDeviceGetAttribute, "cuDeviceGetAttribute");
  SYM(cuCtxCreate, "cuCtxCreate_v2");
  SYM(cuModuleLoadData, "cuModuleLoadData");
  SYM(cuModuleGetFunction, "cuModuleGetFunction");
  SYM(cuMemAlloc, "cuMemAlloc_v2");
  SYM(cuMemFree, "cuMemFree_v2");
  SYM(cuMemcpyHtoD, "cuMemcpyHtoD_v2");
  SYM(cuMemcpyDtoH, "cuMemcpyDtoH_v2");
  SYM(cuMemsetD32, "cuMemsetD32_v2");
  SYM(cuLaunchKernel, "cuLaunchKernel");
  SYM(cuCtxSynchronize, "cuCtxSynchronize");
  SYM(cuGetErrorString, "cuGetErrorString");
  SYM(cuMemsetD8, "cuMemsetD8_v2");
  SYM(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  SYM(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  SYM(cuMemHostRegister, "cuMemHostRegister_v2");
  SYM(cuStreamCreate, "cuStreamCreate");
  SYM(cuStreamSynchronize, "cuStreamSynchronize");
  SYM(cuEventCreate, "cuEventCreate");
  SYM(cuEventRecord, "cuEventRecord");
  SYM(cuEventQuery, "cuEventQuery");
  SYM(cuModuleUnload, "cuModuleUnload");
  CUresult r = api->cuInit(0);
  int count = 0;
  if (r == 0) r = api->cuDeviceGetCount(&count);
  if (r != 0 || count == 0) {
    const char *s = "unknown";
    api->cuGetErrorString(r, &s);
    snprintf(why, why_len, "the NVIDIA driver reports no usable GPU (%s)", r ? s : "0 devices");
    return -1;
  }
  CUdevice dev;
  if ((r = api->cuDeviceGet(&dev, 0)) || (r = api->cuCtxCreate(ctx, 0, dev))) {
    const char *s = "unknown";
    api->cuGetErrorString(r, &s);
    snprintf(why, why_len, "cannot create a CUDA context: %s", s);
    return -1;
  }
  api->cuDeviceGetName(name, (int)name_len, dev);
  return 0;
}
