/*
 * internal.h — every internal header of libhetmem at once.  Nothing here is
 * public API; each subsystem's header lies in its folder.
 */
#ifndef HM_INTERNAL_H
#define HM_INTERNAL_H

#include "common.h"
#include "os/os.h"
#include "core/options.h"
#include "space/space.h"
#include "tiers/tier.h"
#include "core/global.h"
#include "core/stats.h"
#include "fault/fault.h"
#include "migrate/migrate.h"
#include "place/place.h"
#include "track/track.h"
#include "device/device.h"

#endif
