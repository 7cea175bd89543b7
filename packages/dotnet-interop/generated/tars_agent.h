/* Generated from abi/agent-abi.json by scripts/generate.mjs. Do not edit. */
#ifndef TARS_AGENT_ABI_H
#define TARS_AGENT_ABI_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change */
#define TARS_ABI_VERSION ((uint32_t)(1))
/* Success */
#define TARS_STATUS_OK ((int32_t)(0))
/* Unspecified failure inside the agent */
#define TARS_STATUS_ERROR ((int32_t)(-1))
/* A pointer was null or a length out of range */
#define TARS_STATUS_INVALID_ARGUMENT ((int32_t)(-2))
/* The output buffer cannot hold the result; required size is reported */
#define TARS_STATUS_BUFFER_TOO_SMALL ((int32_t)(-3))
/* The call is not valid in the agent's current state */
#define TARS_STATUS_BAD_STATE ((int32_t)(-4))
/* Host and agent disagree on ABI_VERSION */
#define TARS_STATUS_VERSION_MISMATCH ((int32_t)(-5))
/* A managed exception escaped the agent and was caught at the boundary */
#define TARS_STATUS_EXCEPTION ((int32_t)(-6))
/* 32-bit float tensor elements */
#define TARS_DTYPE_F32 ((uint32_t)(1))
/* 32-bit integer tensor elements */
#define TARS_DTYPE_I32 ((uint32_t)(2))
/* Byte tensor elements */
#define TARS_DTYPE_U8 ((uint32_t)(3))

/* A borrowed view of a tensor in shared memory: nothing is copied across the boundary. */
typedef struct tars_tensor_view {
  uint8_t *data; /* First element */
  uint64_t len_bytes; /* Size of the buffer in bytes */
  uint32_t dtype; /* One of the DTYPE_* constants */
  uint32_t rank; /* Number of used entries in shape */
  uint64_t shape[4]; /* Dimensions, outermost first */
} tars_tensor_view;
_Static_assert(sizeof(tars_tensor_view) == 56, "ABI drift: TensorView size");
_Static_assert(offsetof(tars_tensor_view, data) == 0, "ABI drift: TensorView.data");
_Static_assert(offsetof(tars_tensor_view, len_bytes) == 8, "ABI drift: TensorView.len_bytes");
_Static_assert(offsetof(tars_tensor_view, dtype) == 16, "ABI drift: TensorView.dtype");
_Static_assert(offsetof(tars_tensor_view, rank) == 20, "ABI drift: TensorView.rank");
_Static_assert(offsetof(tars_tensor_view, shape) == 24, "ABI drift: TensorView.shape");

/* A message delivered to on_message: a topic, a payload and an optional tensor. */
typedef struct tars_message {
  uint32_t topic; /* Application-defined topic */
  uint32_t flags; /* Bit 0: tensor is valid */
  uint8_t *payload; /* Payload bytes (borrowed for the call) */
  uint64_t payload_len; /* Payload length */
  tars_tensor_view tensor; /* Valid when flags bit 0 is set */
} tars_message;
_Static_assert(sizeof(tars_message) == 80, "ABI drift: Message size");
_Static_assert(offsetof(tars_message, topic) == 0, "ABI drift: Message.topic");
_Static_assert(offsetof(tars_message, flags) == 4, "ABI drift: Message.flags");
_Static_assert(offsetof(tars_message, payload) == 8, "ABI drift: Message.payload");
_Static_assert(offsetof(tars_message, payload_len) == 16, "ABI drift: Message.payload_len");
_Static_assert(offsetof(tars_message, tensor) == 24, "ABI drift: Message.tensor");

/* Functions the host gives the agent (the reverse direction). */
typedef struct tars_host_api {
  uint32_t abi_version; /* Must equal ABI_VERSION */
  uint32_t reserved; /* Zero */
  void *context; /* Opaque host pointer passed back to every call */
  void (*log)(void *, uint8_t *, uint64_t); /* Log a UTF-8 line */
  uint64_t (*now_us)(void *); /* Monotonic microseconds. Short: never blocks and never calls back into the agent, so .NET calls it without a GC transition */
  int32_t (*publish)(void *, tars_message *); /* Send a message to other agents */
} tars_host_api;
_Static_assert(sizeof(tars_host_api) == 40, "ABI drift: HostApi size");
_Static_assert(offsetof(tars_host_api, abi_version) == 0, "ABI drift: HostApi.abi_version");
_Static_assert(offsetof(tars_host_api, reserved) == 4, "ABI drift: HostApi.reserved");
_Static_assert(offsetof(tars_host_api, context) == 8, "ABI drift: HostApi.context");
_Static_assert(offsetof(tars_host_api, log) == 16, "ABI drift: HostApi.log");
_Static_assert(offsetof(tars_host_api, now_us) == 24, "ABI drift: HostApi.now_us");
_Static_assert(offsetof(tars_host_api, publish) == 32, "ABI drift: HostApi.publish");

/* Functions every agent library exports. */
uint32_t tars_abi_version(void); /* The ABI version the agent was built against */
int32_t tars_init(tars_host_api *host, uint8_t *config, uint64_t config_len); /* Start the agent; the host table stays valid until shutdown */
int32_t tars_step(uint64_t now_us); /* Advance one tick */
int32_t tars_on_message(tars_message *msg); /* Handle a message (borrowed for the call) */
int32_t tars_on_messages(tars_message *msgs, uint64_t count, uint64_t *handled); /* (optional) Handle count messages in one call (the batched path: one transition for many messages); stops at the first failure, whose status it returns; handled holds how many succeeded. Optional: hosts fall back to on_message */
int32_t tars_snapshot(uint8_t *out, uint64_t cap, uint64_t *written); /* Serialize state into out; on BUFFER_TOO_SMALL, written holds the size needed */
int32_t tars_restore(uint8_t *data, uint64_t len); /* Replace state with a snapshot */
int32_t tars_shutdown(void); /* Release everything; no call may follow */
uint64_t tars_last_error(uint8_t *out, uint64_t cap); /* Copy the last error's UTF-8 message into out (up to cap bytes); returns its full length, 0 if none */

#ifdef __cplusplus
}
#endif
#endif /* TARS_AGENT_ABI_H */
