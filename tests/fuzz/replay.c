/* SPDX-License-Identifier: Apache-2.0 */
/* Without libFuzzer: run the harness over each file named on the command
 * line (a corpus replay), printing TAP. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	printf("1..%d\n", argc - 1);
	int bad = 0;
	for (int i = 1; i < argc; i++) {
		char *buf = NULL;
		size_t len = 0;
		int r = file_read_all(argv[i], 16u << 20, &buf, &len);
		if (r < 0) {
			printf("not ok %d - %s: cannot read\n", i, argv[i]);
			bad = 1;
			continue;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		free(buf);
		printf("ok %d - %s\n", i, argv[i]);
	}
	return bad;
}
