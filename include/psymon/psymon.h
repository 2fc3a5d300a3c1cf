/* psymon: the version and the shared entry points of libpsymon. */
#ifndef PSYMON_PSYMON_H
#define PSYMON_PSYMON_H

#define PSYMON_VERSION "0.1.0"

#include "psymon/codec.h"
#include "psymon/config.h"
#include "psymon/keys.h"
#include "psymon/limits.h"
#include "psymon/log.h"
#include "psymon/record.h"
#include "psymon/time.h"

#endif
