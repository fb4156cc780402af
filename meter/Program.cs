using Tollgate.Meter;

return await MeterProgram.RunAsync(args, Console.Out, Console.Error);
