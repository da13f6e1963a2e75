/* SPDX-License-Identifier: MIT */
/* kio/kio.h - the whole kio C API. */
#ifndef KIO_KIO_H
#define KIO_KIO_H

#include <kio/common.h>
#include <kio/context.h>
#include <kio/ops.h>
#include <kio/time.h>
#include <kio/stats.h>

#endif /* KIO_KIO_H */
