/*
 * conf_doc: writes tagdigest.conf(5) to stdout, from the config reader's
 * own table (td_config_write_man, config.h). `make` runs it to build
 * build/man/tagdigest.conf.5; the page is never committed. Exits 70
 * (EX_SOFTWARE) naming the key that lacks its description.
 */
#include <stdio.h>

#include "tagdigest/cli/config.h"
#include "tagdigest/core/buf.h"

int main(void)
{
	struct td_buf out = TD_BUF_INIT;
	struct td_err err = { 0, "" };
	int rc = td_config_write_man(&out, &err);
	if (rc) {
		fprintf(stderr, "conf_doc: %s\n", err.msg);
		td_buf_free(&out);
		return rc;
	}
	fwrite(out.data, 1, out.len, stdout);
	td_buf_free(&out);
	return fflush(stdout) == 0 ? 0 : 74;
}
