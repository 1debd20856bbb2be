int hm_demo_main(int argc, char **argv) { return 0; }
