/* io_uring_probe — exits 0 if this machine lets us create an io_uring, 1 otherwise.
 * The test script uses it to decide whether the io_uring phase can run. */
#include <liburing.h>
#include <stdio.h>

int main(void)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(4, &ring, 0);
	if (rc < 0) {
		fprintf(stderr, "io_uring_queue_init: %d\n", rc);
		return 1;
	}
	io_uring_queue_exit(&ring);
	return 0;
}
