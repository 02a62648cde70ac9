#include "entrenar/cli/cli.h"

int main(int argc, char** argv) { return entrenar::cli::RunTrainer(argc, argv); }
