using Tollgate.Operator;

return await OperatorProgram.RunAsync(args, Console.Out, Console.Error);
