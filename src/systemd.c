/* SPDX-License-Identifier: Apache-2.0 */
#include "systemd.h"

#include <errno.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define SYSTEMCTL "/usr/bin/systemctl"
#define SYSUSERS "/usr/bin/systemd-sysusers"

bool systemd_live(const char *root)
{
	struct stat st;
	return (!root || strcmp(root, "/") == 0) && stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* Run a systemd tool (argv[0] is its path) with a clean environment and
 * wait for it; what names it in messages. */
static int tool_run(const char *const *argv, const char *what, char *err, size_t errlen)
{
	static const char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	pid_t pid;
	int r = posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, (char *const *)envp);
	if (r != 0)
		return err_fmt(err, errlen, -r, "cannot run %s: %s", argv[0], strerror(r));
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_fmt(err, errlen, -errno, "waiting for %s: %s", argv[0], strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return err_fmt(err, errlen, -ECHILD, "%s failed (%s %d)", what, WIFEXITED(status) ? "exit status" : "signal",
	               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

int systemctl(char *err, size_t errlen, const char *const *args)
{
	const char *argv[16] = { SYSTEMCTL, "--no-ask-password", "--quiet" };
	size_t n = 3;
	for (; args && *args && n < ELEMENTSOF(argv) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	char what[256];
	snprintf(what, sizeof(what), "systemctl %s %s", argv[3] ? argv[3] : "", argv[3] && argv[4] ? argv[4] : "");
	return tool_run(argv, what, err, errlen);
}

bool systemd_sysusers_present(void)
{
	return access(SYSUSERS, X_OK) == 0;
}

int systemd_sysusers(const char *conf, char *err, size_t errlen)
{
	const char *const argv[] = { SYSUSERS, conf, NULL };
	char what[300];
	snprintf(what, sizeof(what), "systemd-sysusers %s", conf);
	return tool_run(argv, what, err, errlen);
}
