/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer harness: a received rtnetlink datagram (what the kernel could
 * answer to a rule dump) through the bounds-checked reply parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "netlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct route_op ops[] = {
		{ .kind = ROUTE_OP_RULE, .family = AF_INET, .fwmark = 1337, .table = 133 },
		{ .kind = ROUTE_OP_RULE, .family = AF_INET6, .fwmark = 1, .table = 200 },
	};
	/* an exact-size copy, so that any read past the end is caught */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		unsigned found = 0;
		rule_dump_parse(copy, size, 7, 0, &ops[i], &found);
	}
	free(copy);
	return 0;
}
