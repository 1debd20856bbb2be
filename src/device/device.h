/*
 * device.h — mirrored devices (device.c).
 */
#ifndef HM_DEVICE_H
#define HM_DEVICE_H

#include "common.h"
#include "space/space.h"

/* ------------------------------------------------------------------------
 * device.c
 * ---------------------------------------------------------------------- */
HM_HIDDEN void hm_devices_close_all(void);
HM_HIDDEN void hm_devices_forget_range(uintptr_t start, size_t len);

/* The region layer's client (space.h). */
extern HM_HIDDEN const struct hm_space_client hm_device_space;

#endif
