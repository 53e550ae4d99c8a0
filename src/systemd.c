/* SPDX-License-Identifier: Apache-2.0 */
#include "systemd.h"

#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

#define SYSTEMCTL "/usr/bin/systemctl"

bool systemd_live(const char *root)
{
	struct stat st;
	return (!root || strcmp(root, "/") == 0) && stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

int systemctl(char *err, size_t errlen, const char *const *args)
{
	const char *argv[16] = { SYSTEMCTL, "--no-ask-password", "--quiet" };
	size_t n = 3;
	for (; args && *args && n < ELEMENTSOF(argv) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	static const char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	pid_t pid;
	int r = posix_spawn(&pid, SYSTEMCTL, NULL, NULL, (char *const *)argv, (char *const *)envp);
	if (r != 0)
		return err_fmt(err, errlen, -r, "cannot run %s: %s", SYSTEMCTL, strerror(r));
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_fmt(err, errlen, -errno, "waiting for systemctl: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return err_fmt(err, errlen, -ECHILD, "systemctl %s %s failed (%s %d)", argv[3] ? argv[3] : "",
	               argv[3] && argv[4] ? argv[4] : "", WIFEXITED(status) ? "exit status" : "signal",
	               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}
