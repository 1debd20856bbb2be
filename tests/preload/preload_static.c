/* A statically linked program: `hetmem run` must refuse it (LD_PRELOAD
 * cannot reach it). */
int main(void)
{
	return 0;
}
