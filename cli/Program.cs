using Tollgate.Cli;

return await CliProgram.RunAsync(args, Console.Out, Console.Error, TimeProvider.System);
