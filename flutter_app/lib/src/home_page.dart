import 'dart:typed_data';

import 'package:flutter/material.dart';
import 'package:image_picker/image_picker.dart' show ImageSource;

import 'classifier.dart';
import 'model_card.dart';
import 'photo_source.dart';
import 'result_view.dart';

class HomePage extends StatefulWidget {
  const HomePage({super.key, required this.classifier, required this.pickImage, this.recoverLostPhoto});

  final Classifier classifier;
  final PickImage pickImage;

  /// Called once the model is loaded: a photo Android kept while it killed the app is classified.
  final RecoverLostPhoto? recoverLostPhoto;

  @override
  State<HomePage> createState() => _HomePageState();
}

class _HomePageState extends State<HomePage> {
  ModelCard? _card;
  String? _error;
  Uint8List? _photo;
  ClassificationResult? _result;
  bool _busy = true;

  @override
  void initState() {
    super.initState();
    _load();
  }

  Future<void> _load() async {
    ModelCard? card;
    String? error;
    try {
      card = await widget.classifier.load();
    } on ClassifierException catch (failure) {
      error = failure.message;
    } catch (failure) {
      error = 'The model could not be loaded ($failure).';
    }
    if (!mounted) {
      return;
    }
    setState(() {
      _card = card;
      _error = error;
      _busy = false;
    });
    final recover = widget.recoverLostPhoto;
    if (card != null && recover != null) {
      await _obtainAndClassify(recover);
    }
  }

  Future<void> _pickAndClassify(ImageSource source) => _obtainAndClassify(() => widget.pickImage(source));

  Future<void> _obtainAndClassify(Future<Uint8List?> Function() obtain) async {
    final Uint8List? photo;
    try {
      photo = await obtain();
    } on PhotoException catch (failure) {
      _showError(failure.message);
      return;
    } catch (failure) {
      _showError('Could not read the photo ($failure).');
      return;
    }
    if (photo == null || !mounted) {
      return;
    }
    setState(() {
      _photo = photo;
      _result = null;
      _error = null;
      _busy = true;
    });
    ClassificationResult? result;
    String? error;
    try {
      result = await widget.classifier.classify(photo);
    } on ClassifierException catch (failure) {
      error = failure.message;
    } catch (failure) {
      error = 'Classification failed ($failure).';
    }
    if (!mounted) {
      return;
    }
    setState(() {
      _result = result;
      _error = error;
      _busy = false;
    });
  }

  void _showError(String message) {
    if (mounted) {
      setState(() => _error = message);
    }
  }

  @override
  Widget build(BuildContext context) {
    final card = _card;
    final ready = card != null && !_busy;
    return Scaffold(
      appBar: AppBar(title: const Text('Paddy Doctor')),
      body: ListView(
        padding: const EdgeInsets.all(16),
        children: [
          if (card != null && card.placeholder)
            const Card(
              key: Key('placeholder-warning'),
              child: ListTile(
                leading: Icon(Icons.warning_amber),
                title: Text('Untrained placeholder model'),
                subtitle: Text('Its answers mean nothing. Install a release build for a trained model.'),
              ),
            ),
          if (_photo != null)
            ClipRRect(
              borderRadius: BorderRadius.circular(12),
              child: Image.memory(
                _photo!,
                height: 280,
                fit: BoxFit.cover,
                errorBuilder: (context, error, stack) =>
                    const SizedBox(height: 120, child: Center(child: Icon(Icons.broken_image, size: 48))),
              ),
            ),
          const SizedBox(height: 16),
          if (_busy) const Center(child: CircularProgressIndicator()),
          if (_error != null)
            Text(_error!, key: const Key('error'), style: TextStyle(color: Theme.of(context).colorScheme.error)),
          if (_result != null) ResultView(result: _result!),
          if (card == null && !_busy && _error == null) const Text('No model.'),
          if (ready && _photo == null && _result == null)
            const Text('Take or choose a photo of a rice plant.', textAlign: TextAlign.center),
          if (card != null) ...[
            const SizedBox(height: 24),
            Text(
              'Model: ${card.name}${card.phone == null ? '' : ', ${card.phone!.describe}'}',
              key: const Key('model-info'),
              textAlign: TextAlign.center,
              style: Theme.of(context).textTheme.bodySmall,
            ),
          ],
        ],
      ),
      bottomNavigationBar: SafeArea(
        child: Padding(
          padding: const EdgeInsets.all(12),
          child: Row(
            children: [
              Expanded(
                child: FilledButton.icon(
                  key: const Key('pick-camera'),
                  onPressed: ready ? () => _pickAndClassify(ImageSource.camera) : null,
                  icon: const Icon(Icons.photo_camera),
                  label: const Text('Camera'),
                ),
              ),
              const SizedBox(width: 12),
              Expanded(
                child: OutlinedButton.icon(
                  key: const Key('pick-gallery'),
                  onPressed: ready ? () => _pickAndClassify(ImageSource.gallery) : null,
                  icon: const Icon(Icons.photo_library),
                  label: const Text('Gallery'),
                ),
              ),
            ],
          ),
        ),
      ),
    );
  }
}
