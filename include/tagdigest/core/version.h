/* version: the one place the release number lives. */
#ifndef TAGDIGEST_VERSION_H
#define TAGDIGEST_VERSION_H

#define TD_VERSION "0.1.0"

#endif
