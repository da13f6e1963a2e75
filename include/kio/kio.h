/* SPDX-License-Identifier: MIT */
/* kio/kio.h - the whole kio C API. */
#ifndef KIO_KIO_H
#define KIO_KIO_H

#include <kio/common.h>
#include <kio/context.h>
#include <kio/ops.h>
#include <kio/time.h>
#include <kio/stats.h>
#include <kio/net.h>
#include <kio/buf.h>
#include <kio/pool.h>
#include <kio/signal.h>
#include <kio/log.h>
#include <kio/tls.h>

#endif /* KIO_KIO_H */
