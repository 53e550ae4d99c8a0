/* SPDX-License-Identifier: Apache-2.0 */
/* Talking to a running systemd.  systemctl is run with an argument vector
 * (posix_spawn, no shell, a fixed path, a clean environment) rather than
 * linking libsystemd for four D-Bus calls.  Library functions: they
 * return errors with a message, never log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Is systemd running this host, and is root that host ("/")? */
bool systemd_live(const char *root);

/* systemctl ARGS... (NULL-terminated, without "systemctl"); 0, or
 * -ECHILD with err holding its exit status, or -errno. */
int systemctl(char *err, size_t errlen, const char *const *args);

/* systemd-sysusers is installed (on the running host). */
bool systemd_sysusers_present(void);

/* systemd-sysusers CONF on the running host: creates what CONF declares
 * and is missing; 0, -ECHILD (its exit status in err) or -errno. */
int systemd_sysusers(const char *conf, char *err, size_t errlen);
