using Tollgate.Exporter;

return await ExporterProgram.RunAsync(args, Console.Out, Console.Error);
