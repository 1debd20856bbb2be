/* A statically linked program: `hetmem run` must refuse it (LD_PRELOAD
 * cannot reach it), run directly or as a script's #! interpreter.  If it
 * does run, it creates the file $HM_MARKER, so a test sees it started. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	const char *m = getenv("HM_MARKER");
	if (m && *m)
		close(open(m, O_WRONLY | O_CREAT, 0644));
	return 0;
}
